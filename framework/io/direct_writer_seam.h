// Test seam of DirectWriter: the write(2) it calls can be replaced, so tests can inject
// what file systems do rarely or not at all on the test machine (EINVAL for O_DIRECT,
// short writes, I/O errors). Only tests include this.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace torus::io::seam {

using WriteCall = ssize_t (*)(int fd, const void* data, size_t n);

// Installs `call` (nullptr: ::write again) and returns the one it replaces. Not
// thread-safe: set it while no DirectWriter writes.
WriteCall replace_direct_writer_write(WriteCall call);

}  // namespace torus::io::seam
