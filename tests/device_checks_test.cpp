// Deferred checks of device data (framework/ops/device_checks.h), driven with host status
// tensors (the mechanism does not care where the status is): at once outside a scope, at
// verify() inside one, in the order the ops ran, nothing left pending after a failure.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "framework/ops/device_checks.h"
#include "support/error_message.h"

namespace torus {
namespace {

// A check that throws when the status's first word is not 0, naming `what`; it counts its calls.
DeviceStatusCheck fails_unless_zero(std::string what, int* calls) {
  return [what = std::move(what), calls](const std::vector<int64_t>& status) {
    ++*calls;
    TORUS_CHECK(status[0] == 0, "{}: status {}", what, status[0]);
  };
}

Tensor status(std::vector<int64_t> words) {
  const auto n = static_cast<int64_t>(words.size());
  return Tensor::from_data<int64_t>(words, {n});
}

TEST(DeviceChecks, OutsideAScopeACheckRunsAtOnce) {
  int calls = 0;
  check_device_status(status({0}), fails_unless_zero("fine", &calls));
  EXPECT_EQ(calls, 1);
  const std::string what = test::error_of([&] { check_device_status(status({3}), fails_unless_zero("bad", &calls)); });
  EXPECT_EQ(what, "bad: status 3");
  DeferredDeviceChecks::verify_pending();  // no scope: nothing to do
}

TEST(DeviceChecks, InsideAScopeChecksWaitForVerifyAndRunInOrder) {
  int calls = 0;
  DeferredDeviceChecks scope;
  check_device_status(status({0, 7}), fails_unless_zero("first", &calls));
  check_device_status(status({5}), fails_unless_zero("second", &calls));
  check_device_status(status({9}), fails_unless_zero("third", &calls));
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(scope.pending(), 3);
  const std::string what = test::error_of([&] { DeferredDeviceChecks::verify_pending(); });
  EXPECT_EQ(what, "second: status 5") << "the first failure in the ops' order";
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(scope.pending(), 0) << "a failed verify leaves nothing pending";
  scope.verify();
  check_device_status(status({0}), fails_unless_zero("later", &calls));
  scope.verify();
  EXPECT_EQ(calls, 3);
}

TEST(DeviceChecks, ScopesNestAndRestore) {
  int calls = 0;
  DeferredDeviceChecks outer;
  {
    DeferredDeviceChecks inner;
    check_device_status(status({0}), fails_unless_zero("inner", &calls));
    EXPECT_EQ(inner.pending(), 1);
    EXPECT_EQ(outer.pending(), 0);
  }  // dropped unverified
  check_device_status(status({0}), fails_unless_zero("outer", &calls));
  EXPECT_EQ(outer.pending(), 1);
  outer.verify();
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace torus
