# The CUDA backend's tests, included by tests/CMakeLists.txt when TORUS_WITH_CUDA is ON
# (so torus_add_test is defined). Host-side tests run everywhere the CUDA build does; the
# kernel tests carry the label `gpu` and skip, saying why, where no device is present.
torus_add_test(cuda_launch_config_test SOURCES cuda_launch_config_test.cpp LIBS torus_cuda)
torus_add_test(cuda_caching_allocator_test SOURCES cuda_caching_allocator_test.cpp LIBS torus_cuda)
torus_add_test(cuda_check_test SOURCES cuda_check_test.cpp LIBS torus_cuda CUDA::cublas
               $<$<BOOL:${TORUS_WITH_CUDNN}>:Torus::cudnn> $<$<BOOL:${TORUS_WITH_NCCL}>:Torus::nccl>)
target_compile_definitions(cuda_check_test PRIVATE
  TORUS_TEST_CUDNN=$<BOOL:${TORUS_WITH_CUDNN}> TORUS_TEST_NCCL=$<BOOL:${TORUS_WITH_NCCL}>)

foreach(_kernel IN ITEMS elementwise reduce_sum softmax layer_norm adamw)
  add_executable(cuda_${_kernel}_test cuda_${_kernel}_test.cpp)
  target_link_libraries(cuda_${_kernel}_test PRIVATE torus_cuda GTest::gtest_main torus_warnings)
  target_include_directories(cuda_${_kernel}_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  gtest_discover_tests(cuda_${_kernel}_test DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 600 LABELS gpu)
endforeach()
# Issue 10's second slice: reductions over any dim, fused cross-entropy, bias + GELU,
# embedding, dropout (same registration as above: label gpu, skip without a device).
foreach(_kernel IN ITEMS reduce_dim cross_entropy bias_gelu embedding dropout)
  add_executable(cuda_${_kernel}_test cuda_${_kernel}_test.cpp)
  target_link_libraries(cuda_${_kernel}_test PRIVATE torus_cuda GTest::gtest_main torus_warnings)
  target_include_directories(cuda_${_kernel}_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  gtest_discover_tests(cuda_${_kernel}_test TEST_PREFIX cuda_${_kernel}_test. DISCOVERY_TIMEOUT 60
                       PROPERTIES TIMEOUT 600 LABELS gpu)
endforeach()
# Vendor libraries (gemm.h, cudnn_conv.h, cudnn_pool.h): host-side logic (the row-major to
# column-major mapping, conv/pool output shapes, algorithm filtering) runs here without a
# GPU; the cuBLAS and cuDNN comparisons carry the label gpu and skip without a device.
# (Named with a prefix, so `ctest -R cuda` selects them.)
foreach(_host IN ITEMS gemm_host conv_pool_shape strided_copy_layout)
  add_executable(cuda_${_host}_test cuda_${_host}_test.cpp)
  target_link_libraries(cuda_${_host}_test PRIVATE torus_cuda GTest::gtest_main torus_warnings)
  gtest_discover_tests(cuda_${_host}_test TEST_PREFIX cuda_${_host}_test. DISCOVERY_TIMEOUT 60
                       PROPERTIES TIMEOUT 60)
endforeach()
set(_torus_vendor_tests gemm)
if(TORUS_WITH_CUDNN)
  list(APPEND _torus_vendor_tests cudnn)
endif()
foreach(_vendor IN LISTS _torus_vendor_tests)
  add_executable(cuda_${_vendor}_test cuda_${_vendor}_test.cpp)
  target_link_libraries(cuda_${_vendor}_test PRIVATE torus_cuda GTest::gtest_main torus_warnings)
  target_include_directories(cuda_${_vendor}_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  gtest_discover_tests(cuda_${_vendor}_test TEST_PREFIX cuda_${_vendor}_test. DISCOVERY_TIMEOUT 60
                       PROPERTIES TIMEOUT 600 LABELS gpu)
endforeach()

# Causal attention (kernels/cuda/attention.h): the head layouts and the batching plan on the
# host (runs here), the forward and backward against a double reference on the GPU (label gpu).
add_executable(cuda_attention_host_test cuda_attention_host_test.cpp)
target_link_libraries(cuda_attention_host_test PRIVATE torus_cuda GTest::gtest_main torus_warnings)
gtest_discover_tests(cuda_attention_host_test TEST_PREFIX cuda_attention_host_test. DISCOVERY_TIMEOUT 60
                     PROPERTIES TIMEOUT 60)
add_executable(cuda_attention_test cuda_attention_test.cpp)
target_link_libraries(cuda_attention_test PRIVATE torus_cuda GTest::gtest_main torus_warnings)
target_include_directories(cuda_attention_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
gtest_discover_tests(cuda_attention_test TEST_PREFIX cuda_attention_test. DISCOVERY_TIMEOUT 60
                     PROPERTIES TIMEOUT 600 LABELS gpu)

# Device tensors (framework/tensor/device_backend.h) against the cpu: label gpu, skips
# without a device.
add_executable(cuda_tensor_test cuda_tensor_test.cpp)
target_link_libraries(cuda_tensor_test PRIVATE torus_test_support GTest::gtest_main torus_warnings)
gtest_discover_tests(cuda_tensor_test TEST_PREFIX cuda_tensor_test. DISCOVERY_TIMEOUT 60
                     PROPERTIES TIMEOUT 600 LABELS gpu)
# The whole op registry on cuda:0 against the cpu (every op has a CUDA path).
add_executable(cuda_op_parity_test cuda_op_parity_test.cpp)
target_link_libraries(cuda_op_parity_test PRIVATE torus_test_support GTest::gtest_main torus_warnings)
target_compile_definitions(cuda_op_parity_test PRIVATE TORUS_HAVE_CUDNN=$<BOOL:${TORUS_WITH_CUDNN}>)
gtest_discover_tests(cuda_op_parity_test TEST_PREFIX cuda_op_parity_test. DISCOVERY_TIMEOUT 60
                     PROPERTIES TIMEOUT 600 LABELS gpu)
# `torus train` on cuda:0 against the cpu, 20 AdamW steps of a small GPT and an MLP: every
# step's loss and the final weights (label gpu: skips, saying why, without a device).
add_executable(cuda_gpt_parity_test cuda_gpt_parity_test.cpp)
target_link_libraries(cuda_gpt_parity_test PRIVATE torus_test_support GTest::gtest_main nlohmann_json::nlohmann_json
                      torus_warnings)
target_compile_definitions(cuda_gpt_parity_test PRIVATE TORUS_TOOL="$<TARGET_FILE:torus>")
add_dependencies(cuda_gpt_parity_test torus)
gtest_discover_tests(cuda_gpt_parity_test TEST_PREFIX cuda_gpt_parity_test. DISCOVERY_TIMEOUT 60
                     PROPERTIES TIMEOUT 600 LABELS gpu)
# Data parallelism on CUDA devices through NCCL (label gpu: each test skips, saying why,
# without its devices): a world of one on one device in-process; `mpirun -np 2 torus train`
# on two devices against one process on the cpu.
if(TORUS_WITH_NCCL)
  add_executable(device_data_parallel_test device_data_parallel_test.cpp)
  target_link_libraries(device_data_parallel_test PRIVATE torus_test_support torus_distributed GTest::gtest_main
                        nlohmann_json::nlohmann_json torus_warnings)
  target_compile_definitions(device_data_parallel_test PRIVATE TORUS_TOOL="$<TARGET_FILE:torus>"
                             TORUS_MPIEXEC="${MPIEXEC_EXECUTABLE}")
  add_dependencies(device_data_parallel_test torus)
  gtest_discover_tests(device_data_parallel_test TEST_PREFIX device_data_parallel_test. DISCOVERY_TIMEOUT 60
                       PROPERTIES TIMEOUT 900 LABELS gpu)
endif()
# AdamW, SGD and gradient clipping on cuda:0 against the cpu.
add_executable(cuda_optim_test cuda_optim_test.cpp)
target_link_libraries(cuda_optim_test PRIVATE torus_test_support GTest::gtest_main torus_warnings)
gtest_discover_tests(cuda_optim_test TEST_PREFIX cuda_optim_test. DISCOVERY_TIMEOUT 60
                     PROPERTIES TIMEOUT 600 LABELS gpu)

# Every kernel of kernels/cuda/kernels.txt is compiled, and none spills registers to local
# memory (nvcc --resource-usage, device code only: a few seconds per file).
find_program(TORUS_PYTHON_FOR_CHECKS NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
add_test(NAME cuda_resource_check
         COMMAND ${TORUS_PYTHON_FOR_CHECKS} ${PROJECT_SOURCE_DIR}/cmake/cuda_resource_check.py
                 --nvcc ${CMAKE_CUDA_COMPILER} --arch "${CMAKE_CUDA_ARCHITECTURES}"
                 --include ${PROJECT_SOURCE_DIR} --kernels ${PROJECT_SOURCE_DIR}/kernels/cuda/kernels.txt
                 --sources-dir ${PROJECT_SOURCE_DIR}/kernels/cuda)
set_tests_properties(cuda_resource_check PROPERTIES TIMEOUT 300)
# The check itself finds a spilling kernel and a missing one (cmake/cuda_resource_check_fixture/).
add_test(NAME cuda_resource_check_self_test
         COMMAND ${TORUS_PYTHON_FOR_CHECKS} ${PROJECT_SOURCE_DIR}/cmake/cuda_resource_check.py
                 --nvcc ${CMAKE_CUDA_COMPILER} --arch "${CMAKE_CUDA_ARCHITECTURES}" --include ${PROJECT_SOURCE_DIR}
                 --kernels ${PROJECT_SOURCE_DIR}/cmake/cuda_resource_check_fixture/kernels.txt
                 --sources-dir ${PROJECT_SOURCE_DIR}/cmake/cuda_resource_check_fixture)
set_tests_properties(cuda_resource_check_self_test PROPERTIES TIMEOUT 120
  PASS_REGULAR_EXPRESSION "expected kernel missing_kernel was not compiled.*spilly_kernel \\(_Z13spilly_kernelPfPKfi\\) spills [1-9][0-9]* B stores.*FAILED")

# The NCCL bootstrap over MPI with 2 ranks (its communicator test skips without GPUs).
if(TORUS_WITH_NCCL)
  torus_add_test(nccl_bootstrap_test SOURCES nccl_bootstrap_test.cpp LIBS torus_distributed torus_cuda Torus::nccl
                 RANKS 2)
  set_tests_properties(nccl_bootstrap_test PROPERTIES TIMEOUT 120)
  # The NCCL process group with 2 ranks: mappings and argument checks here; the collectives
  # need a CUDA device per rank and skip, saying why, without them.
  torus_add_test(nccl_process_group_test SOURCES nccl_process_group_test.cpp
                 LIBS torus_distributed torus_cuda Torus::nccl RANKS 2)
  set_tests_properties(nccl_process_group_test PROPERTIES TIMEOUT 300)
endif()
