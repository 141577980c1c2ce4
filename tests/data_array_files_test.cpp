// Array datasets from HDF5 files (written by h5py, tests/data_write_hdf5.py) and from
// safetensors files (written by framework/io): values, conversions, and one error naming
// the file for every way such a file can be unfit.
#include <gtest/gtest.h>

#include <filesystem>

#include "data_support.h"
#include "framework/data/hdf5_arrays.h"
#include "framework/data/safetensors_arrays.h"
#include "framework/io/safetensors.h"
#include "framework/ops/ops.h"

namespace torus::data {
namespace {

using test::expect_one_line_naming;
using test::gather_new;
using test::thrown_message;

class Hdf5Arrays : public ::testing::Test {
 protected:
  // Writes the h5py case `name` and returns its path.
  std::string write(const std::string& name) {
    const std::string path = dir_.file(name + ".h5");
    const std::string failure = test::run_python("data_write_hdf5.py", name + " " + path, dir_);
    EXPECT_EQ(failure, "");
    return path;
  }
  // The IOError message of loading case `name`, checked to be one line naming the file.
  std::string load_error(const std::string& name, const ArrayFileOptions& options = {}) {
    const std::string path = write(name);
    const std::string message = thrown_message<IOError>([&] { load_hdf5_arrays(path, options); });
    expect_one_line_naming(message, {path});
    return message;
  }
  test::ScratchDir dir_{"hdf5"};
};

TEST_F(Hdf5Arrays, ReadsValuesShapesAndDtypesThatH5pyWrote) {
  const auto dataset = load_hdf5_arrays(write("good"));
  EXPECT_EQ(dataset->size(), 10);
  EXPECT_EQ(dataset->input_spec(), (SampleSpec{{3, 4}, DType::f32}));
  EXPECT_EQ(dataset->target_spec(), (SampleSpec{{}, DType::i64}));
  const auto batch = gather_new(*dataset, {7, 0, 7});
  const auto x = batch.inputs.to_vector<float>();
  for (int row = 0; row < 3; ++row)
    for (int j = 0; j < 12; ++j) EXPECT_EQ(x[row * 12 + j], (row == 1 ? 0 : 700) + j);
  EXPECT_EQ(batch.targets.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1}));
}

TEST_F(Hdf5Arrays, ConvertsInputsAndTargetsToTheRequestedDtypes) {
  const std::string path = write("f64_float_targets");
  const auto as_f32 = load_hdf5_arrays(path);
  EXPECT_EQ(as_f32->input_spec(), (SampleSpec{{2}, DType::f32}));
  EXPECT_EQ(as_f32->target_spec(), (SampleSpec{{2}, DType::f32}));  // float targets follow x
  const auto as_f64 = load_hdf5_arrays(path, {.input_dtype = DType::f64});
  EXPECT_EQ(as_f64->target_spec(), (SampleSpec{{2}, DType::f64}));
  const auto batch = gather_new(*as_f64, {5});
  EXPECT_EQ(batch.inputs.to_vector<double>(), (std::vector<double>{10.0 / 8, 11.0 / 8}));
  EXPECT_EQ(batch.targets.to_vector<double>(), (std::vector<double>{9.5, 10.5}));
}

TEST_F(Hdf5Arrays, ReadsChunkedCompressedDataAndFollowsSoftLinksWithinTheFile) {
  const auto chunked = load_hdf5_arrays(write("chunked_gzip"));
  const auto batch = gather_new(*chunked, {19, 4});
  EXPECT_EQ(batch.inputs.to_vector<float>(), (std::vector<float>{38, 39, 8, 9}));
  EXPECT_EQ(batch.targets.to_vector<int64_t>(), (std::vector<int64_t>{19, 4}));  // int32 widened
  const auto linked = load_hdf5_arrays(write("soft_link"));
  EXPECT_EQ(gather_new(*linked, {2}).inputs.to_vector<float>()[5], 205);
}

TEST_F(Hdf5Arrays, ChecksClassIndicesAgainstNumClasses) {
  EXPECT_EQ(load_hdf5_arrays(write("uint8_labels"), {.num_classes = 201})->size(), 4);
  expect_one_line_naming(load_error("uint8_labels", {.num_classes = 10}), {"class 200", "sample 3", "0..9"});
}

TEST_F(Hdf5Arrays, MissingFileOrNotHdf5) {
  const std::string missing = dir_.file("absent.h5");
  expect_one_line_naming(thrown_message<IOError>([&] { load_hdf5_arrays(missing); }),
                         {missing, "No such file"});
  const std::string text = dir_.file("text.h5");
  test::write_bytes(text, "not an HDF5 file at all\n");
  expect_one_line_naming(thrown_message<IOError>([&] { load_hdf5_arrays(text); }), {text, "not an HDF5 file"});
}

TEST_F(Hdf5Arrays, TruncatedFileIsAnErrorFromHdf5NamingTheCall) {
  const std::string path = write("good");
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  expect_one_line_naming(thrown_message<IOError>([&] { load_hdf5_arrays(path); }), {path, "HDF5 call H5"});
}

TEST_F(Hdf5Arrays, MissingOrMisshapenDatasets) {
  expect_one_line_naming(load_error("no_y"), {"no dataset 'y'"});
  expect_one_line_naming(load_error("y_is_group"), {"'y' is not a dataset"});
  expect_one_line_naming(load_error("mismatched_n"), {"x holds 5 samples but y holds 4"});
  expect_one_line_naming(load_error("scalar_x"), {"'x' is a scalar"});
  expect_one_line_naming(load_error("empty"), {"no samples"});
}

TEST_F(Hdf5Arrays, UnsupportedTypes) {
  expect_one_line_naming(load_error("integer_x"), {"'x' holds integers of 4 bytes", "float32 or float64"});
  expect_one_line_naming(load_error("float16_x"), {"'x' holds floats of 2 bytes"});
  expect_one_line_naming(load_error("bool_y"), {"'y' holds enums"});
  expect_one_line_naming(load_error("string_y"), {"'y' holds strings"});
}

TEST_F(Hdf5Arrays, AbsurdSizesAreRefusedBeforeAllocating) {
  expect_one_line_naming(load_error("huge"), {"'x' of shape", "max_bytes"});
  // The limit applies to what fits, too.
  expect_one_line_naming(load_error("good", {.max_bytes = 500}), {"x and y take 560 bytes", "limit of 500"});
}

TEST_F(Hdf5Arrays, DataInOtherFilesIsRefused) {
  expect_one_line_naming(load_error("external_link"), {"'y' is an external link", "does not follow"});
  // Reached through a soft link, the external link is refused by the traversal callback.
  expect_one_line_naming(load_error("soft_link_to_external"), {"HDF5 call H5Oopen"});
  expect_one_line_naming(load_error("external_storage"), {"'y' keeps its data in external files"});
  expect_one_line_naming(load_error("virtual"), {"'y' is a virtual dataset"});
}

TEST_F(Hdf5Arrays, ErrorsLeaveHdf5QuietOnStderr) {
  const std::string path = write("no_y");
  ::testing::internal::CaptureStderr();
  EXPECT_THROW(load_hdf5_arrays(path), IOError);
  const std::string truncated = write("good");
  std::filesystem::resize_file(truncated, 100);
  EXPECT_THROW(load_hdf5_arrays(truncated), IOError);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

class SafetensorsArrays : public ::testing::Test {
 protected:
  std::string save(const std::string& name, const NamedTensors& tensors) {
    const std::string path = dir_.file(name + ".safetensors");
    io::save_safetensors(path, tensors);
    return path;
  }
  std::string load_error(const std::string& path, const ArrayFileOptions& options = {}) {
    const std::string message = thrown_message<IOError>([&] { load_safetensors_arrays(path, options); });
    expect_one_line_naming(message, {path});
    return message;
  }
  test::ScratchDir dir_{"safetensors"};
};

TEST_F(SafetensorsArrays, ReadsValuesWrittenByFrameworkIo) {
  const Tensor x = Tensor::arange(24, DType::f32).reshape({6, 2, 2});
  const Tensor y = Tensor::from_data<int64_t>({5, 4, 3, 2, 1, 0}, {6});
  const auto dataset = load_safetensors_arrays(save("good", {{"y", y}, {"x", x}}));
  EXPECT_EQ(dataset->size(), 6);
  EXPECT_EQ(dataset->input_spec(), (SampleSpec{{2, 2}, DType::f32}));
  const auto batch = gather_new(*dataset, {1, 5});
  EXPECT_EQ(batch.inputs.to_vector<float>(), (std::vector<float>{4, 5, 6, 7, 20, 21, 22, 23}));
  EXPECT_EQ(batch.targets.to_vector<int64_t>(), (std::vector<int64_t>{4, 0}));
}

TEST_F(SafetensorsArrays, ConvertsDtypesAndChecksClasses) {
  const Tensor x = Tensor::arange(4, DType::f64).reshape({4, 1});
  const Tensor y = Tensor::from_data<uint8_t>({0, 1, 2, 9}, {4});
  const std::string path = save("convert", {{"x", x}, {"y", y}});
  const auto dataset = load_safetensors_arrays(path);
  EXPECT_EQ(dataset->input_spec().dtype, DType::f32);
  EXPECT_EQ(dataset->target_spec().dtype, DType::i64);
  EXPECT_EQ(gather_new(*dataset, {3}).targets.to_vector<int64_t>(), (std::vector<int64_t>{9}));
  expect_one_line_naming(load_error(path, {.num_classes = 9}), {"class 9", "sample 3", "0..8"});
  const std::string float_targets = save("float_targets", {{"x", x}, {"y", x * 2.0}});
  EXPECT_EQ(load_safetensors_arrays(float_targets, {.input_dtype = DType::f64})->target_spec().dtype, DType::f64);
}

TEST_F(SafetensorsArrays, BadFiles) {
  const Tensor x = Tensor::zeros({4, 2});
  const std::string missing = dir_.file("absent.safetensors");
  expect_one_line_naming(load_error(missing), {"cannot open"});
  expect_one_line_naming(load_error(save("no_y", {{"x", x}})), {"no tensor 'y'"});
  expect_one_line_naming(load_error(save("mismatched", {{"x", x}, {"y", Tensor::zeros({3}, DType::i64)}})),
                         {"x holds 4 samples but y holds 3"});
  expect_one_line_naming(load_error(save("bf16", {{"x", x.to(DType::bf16)}, {"y", Tensor::zeros({4}, DType::i64)}})),
                         {"x is BF16", "F32 or F64"});
  expect_one_line_naming(load_error(save("f16_y", {{"x", x}, {"y", Tensor::zeros({4}, DType::f16)}})), {"y is F16"});
  expect_one_line_naming(load_error(save("scalar", {{"x", Tensor::scalar(1)}, {"y", Tensor::zeros({1}, DType::i64)}})),
                         {"leading sample dimension"});
  const std::string truncated = save("truncated", {{"x", x}, {"y", Tensor::zeros({4}, DType::i64)}});
  std::filesystem::resize_file(truncated, std::filesystem::file_size(truncated) - 4);
  expect_one_line_naming(load_error(truncated), {"not a valid safetensors file"});
  expect_one_line_naming(load_error(save("small", {{"x", x.to(DType::f64)}, {"y", Tensor::zeros({4}, DType::i64)}}),
                                    {.max_bytes = 16}),
                         {"max_bytes"});
}

}  // namespace
}  // namespace torus::data
