// Whether ops on devices must choose algorithms that give the same bits on every run:
// one process-wide switch, off by default, as torch.use_deterministic_algorithms.
// Our own CUDA kernels are deterministic either way (fixed reduction orders, no atomics);
// cuBLAS is deterministic on a given GPU model; the switch restricts cuDNN's convolutions
// to the algorithms cuDNN reports deterministic, some of its fastest backward ones being
// not. Reproducible mode turns it on. It changes nothing on the cpu.
#pragma once

namespace torus {

bool deterministic_algorithms();
void set_deterministic_algorithms(bool on);

}  // namespace torus
