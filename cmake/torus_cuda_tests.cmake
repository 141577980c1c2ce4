# The CUDA backend's tests, included by tests/CMakeLists.txt when TORUS_WITH_CUDA is ON
# (so torus_add_test is defined). Host-side tests run everywhere the CUDA build does; the
# kernel tests carry the label `gpu` and skip, saying why, where no device is present.
torus_add_test(cuda_launch_config_test SOURCES cuda_launch_config_test.cpp LIBS torus_cuda)
torus_add_test(cuda_caching_allocator_test SOURCES cuda_caching_allocator_test.cpp LIBS torus_cuda)
torus_add_test(cuda_check_test SOURCES cuda_check_test.cpp LIBS torus_cuda CUDA::cublas
               $<$<BOOL:${TORUS_WITH_CUDNN}>:Torus::cudnn> $<$<BOOL:${TORUS_WITH_NCCL}>:Torus::nccl>)
target_compile_definitions(cuda_check_test PRIVATE
  TORUS_TEST_CUDNN=$<BOOL:${TORUS_WITH_CUDNN}> TORUS_TEST_NCCL=$<BOOL:${TORUS_WITH_NCCL}>)

