// Whether ops record their backward. Off inside NoGradGuard (evaluation, optimizer
// steps) and while the engine runs backward functions.
#pragma once

namespace torus {

class GradMode {
 public:
  static bool enabled();
  static void set_enabled(bool enabled);
};

// Disables recording for its scope, restoring the previous mode on exit.
class NoGradGuard {
 public:
  NoGradGuard() : previous_(GradMode::enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace torus
