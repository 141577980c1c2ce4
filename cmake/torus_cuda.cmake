# The CUDA toolchain for Torus, included by the top-level CMakeLists.txt when
# TORUS_WITH_CUDA is ON: nvcc with C++20 and warnings as errors, the target architectures,
# the toolkit's libraries, and imported targets for cuDNN and NCCL (neither ships a CMake
# package: found in the toolkit's include and lib64 folders, or CUDNN_ROOT / NCCL_ROOT).
if(NOT CMAKE_CUDA_COMPILER)
  message(FATAL_ERROR "TORUS_WITH_CUDA is ON but no CUDA compiler (nvcc) was found: put nvcc on "
                      "PATH, set CMAKE_CUDA_COMPILER, or configure with -DTORUS_WITH_CUDA=OFF")
endif()

# CMake's "90" means sm_90 machine code plus compute_90 PTX, which newer GPUs JIT-compile;
# "90-real" would drop the PTX.
set(TORUS_CUDA_ARCHITECTURES "90" CACHE STRING "CUDA architectures for the kernels (CMake syntax)")
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES ${TORUS_CUDA_ARCHITECTURES})
endif()
# The shared CUDA runtime everywhere: cuBLAS, cuDNN and NCCL load libcudart.so, and one
# process must not hold two runtimes (a static one would keep its own device selection).
if(NOT DEFINED CMAKE_CUDA_RUNTIME_LIBRARY)
  set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

# C++20 for CUDA: CMake 3.25 knows nvcc's flags only up to C++17, yet asks for the CXX
# standard (20) on targets with CUDA sources and fails at generate time without a flag for
# it; so we tell it the flag (newer CMake sets the same). nvcc gets -std=c++20 once.
if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
endif()
# Warnings are errors in all CUDA code: nvcc's own (all-warnings) and the host compiler's.
add_library(torus_cuda_options INTERFACE)
target_compile_options(torus_cuda_options INTERFACE
  $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Werror=all-warnings
                             -Xcompiler=-Wall,-Wextra,-Werror>
  $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
# No fmt in .cu files: nvcc 13 cannot compile fmt 9's headers in C++20 (kernels/cuda/check.h).

set(_torus_cuda_lib_hints ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_TARGET_DIR}/lib64)
set(_torus_cuda_include_hints ${CUDAToolkit_INCLUDE_DIRS})

# Imported target NAME for a library that ships only a header and a shared object.
function(torus_import_cuda_library name header library root_var)
  find_path(TORUS_${name}_INCLUDE_DIR ${header}
            HINTS ${${root_var}} ENV ${root_var} PATH_SUFFIXES include
            PATHS ${_torus_cuda_include_hints})
  find_library(TORUS_${name}_LIBRARY ${library}
               HINTS ${${root_var}} ENV ${root_var} PATH_SUFFIXES lib64 lib
               PATHS ${_torus_cuda_lib_hints})
  if(NOT TORUS_${name}_INCLUDE_DIR OR NOT TORUS_${name}_LIBRARY)
    message(FATAL_ERROR "TORUS_WITH_${name} is ON but ${header} / lib${library} were not found "
                        "(looked in ${_torus_cuda_include_hints} and ${_torus_cuda_lib_hints}; "
                        "set ${root_var}), or configure with -DTORUS_WITH_${name}=OFF")
  endif()
  add_library(Torus::${library} UNKNOWN IMPORTED)
  set_target_properties(Torus::${library} PROPERTIES
    IMPORTED_LOCATION ${TORUS_${name}_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${TORUS_${name}_INCLUDE_DIR})
  message(STATUS "CUDA: ${name} ${TORUS_${name}_LIBRARY}")
endfunction()

if(TORUS_WITH_CUDNN)
  torus_import_cuda_library(CUDNN cudnn.h cudnn CUDNN_ROOT)
endif()
if(TORUS_WITH_NCCL)
  torus_import_cuda_library(NCCL nccl.h nccl NCCL_ROOT)
endif()
message(STATUS "CUDA: nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES}")
