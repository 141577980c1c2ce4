// Datasets on real data (Debian's Fashion-MNIST, a text installed with Debian) and on
// files written here: values, shapes, determinism, and one-line errors naming the file
// for each way the input can be bad.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "data_support.h"
#include "framework/data/byte_text.h"
#include "framework/data/fashion_mnist.h"
#include "framework/data/idx.h"
#include "framework/data/synthetic.h"

namespace torus::data {
namespace {

using test::expect_one_line_naming;
using test::gather_new;
using test::thrown_message;

// ---- Fashion-MNIST, from the Debian package ----

TEST(FashionMnist, TrainSplitFromTheDebianPackage) {
  const FashionMnist train;  // the default directory is where the package installs the files
  EXPECT_EQ(train.size(), 60000);
  EXPECT_EQ(train.input_spec(), (SampleSpec{{1, 28, 28}, DType::f32}));
  EXPECT_EQ(train.target_spec(), (SampleSpec{{}, DType::i64}));
  // Known values (from Python's gzip + numpy): labels begin 9 0 0 3 0 (ankle boot,
  // T-shirt, ...), and the first image's pixels sum to 76247.
  const auto first = gather_new(train, {0, 1, 2, 3, 4});
  EXPECT_EQ(first.targets.to_vector<int64_t>(), (std::vector<int64_t>{9, 0, 0, 3, 0}));
  const auto image = first.inputs.narrow(0, 0, 1).to_vector<float>();
  double sum = 0;
  for (float v : image) sum += v;
  EXPECT_NEAR(sum * 255, 76247, 1e-2);
  // Pixels are exactly p / 255 in [0, 1], and both ends occur.
  const Tensor raw = read_idx(std::string(kFashionMnistDirectory) + "/train-images-idx3-ubyte.gz");
  for (int p = 0; p < 784; ++p) EXPECT_EQ(image[p], static_cast<float>(raw.data<uint8_t>()[p]) / 255.0f);
  EXPECT_EQ(*std::min_element(image.begin(), image.end()), 0.0f);
  EXPECT_EQ(*std::max_element(image.begin(), image.end()), 1.0f);
}

TEST(FashionMnist, TestSplitAndEveryClassBalanced) {
  const FashionMnist test({.split = FashionMnistSplit::test});
  EXPECT_EQ(test.size(), 10000);
  std::vector<int64_t> all(static_cast<size_t>(test.size()));
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  const auto everything = gather_new(test, all);
  const auto labels = everything.targets.to_vector<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(labels.begin(), labels.begin() + 5), (std::vector<int64_t>{9, 2, 1, 1, 6}));
  std::vector<int> count(10);
  for (int64_t label : labels) ++count[static_cast<size_t>(label)];
  for (int c : count) EXPECT_EQ(c, 1000);
  const auto pixels = everything.inputs.to_vector<float>();
  EXPECT_EQ(*std::min_element(pixels.begin(), pixels.end()), 0.0f);
  EXPECT_EQ(*std::max_element(pixels.begin(), pixels.end()), 1.0f);
}

// A directory in Fashion-MNIST's layout holding small generated files.
class FashionMnistFiles : public ::testing::Test {
 protected:
  void write_split(uint32_t images, uint32_t labels, uint32_t rows = 28, uint8_t max_label = 9) {
    std::vector<uint8_t> pixels(static_cast<size_t>(images) * rows * 28);
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i % 256);
    std::vector<uint8_t> classes(labels);
    for (size_t i = 0; i < classes.size(); ++i) classes[i] = static_cast<uint8_t>(i % 10);
    if (labels > 0) classes.back() = max_label;
    test::write_gzip(images_path(), test::idx_bytes({images, rows, 28}, pixels));
    test::write_gzip(labels_path(), test::idx_bytes({labels}, classes));
  }
  std::string images_path() const { return dir_.file("train-images-idx3-ubyte.gz"); }
  std::string labels_path() const { return dir_.file("train-labels-idx1-ubyte.gz"); }
  std::string load_error() const {
    return thrown_message<IOError>([&] { FashionMnist{{.directory = dir_.path()}}; });
  }
  test::ScratchDir dir_{"fmnist"};
};

TEST_F(FashionMnistFiles, SmallValidFilesLoad) {
  write_split(3, 3);
  const FashionMnist dataset({.directory = dir_.path()});
  EXPECT_EQ(dataset.size(), 3);
  EXPECT_EQ(gather_new(dataset, {2}).targets.to_vector<int64_t>(), (std::vector<int64_t>{9}));
  EXPECT_EQ(gather_new(dataset, {1}).inputs.to_vector<float>()[0], static_cast<float>(784 % 256) / 255.0f);
}

TEST_F(FashionMnistFiles, MissingFile) {
  expect_one_line_naming(load_error(), {images_path(), "cannot open"});
  write_split(3, 3);
  std::filesystem::remove(labels_path());
  expect_one_line_naming(load_error(), {labels_path(), "cannot open"});
}

TEST_F(FashionMnistFiles, TruncatedImages) {
  write_split(3, 3);
  const std::string full = test::idx_bytes({3, 28, 28}, std::vector<uint8_t>(3 * 784));
  test::write_gzip(images_path(), full.substr(0, full.size() - 100));
  expect_one_line_naming(load_error(), {images_path(), "truncated"});
}

TEST_F(FashionMnistFiles, CorruptGzipStream) {
  // A damaged CRC-32 in the gzip trailer, which only zlib's checksum notices.
  write_split(3, 3);
  std::string bytes = test::read_bytes(images_path());
  bytes[bytes.size() - 6] ^= 0x5a;
  test::write_bytes(images_path(), bytes);
  expect_one_line_naming(load_error(), {images_path(), "read error", "incorrect data check"});
  // The same in a second (empty) gzip member after the data, found by reading past it.
  write_split(3, 3);
  const std::string empty_member = dir_.file("empty.gz");
  test::write_gzip(empty_member, "");
  std::string trailer = test::read_bytes(empty_member);
  trailer[trailer.size() - 6] ^= 0x5a;
  test::write_bytes(images_path(), test::read_bytes(images_path()) + trailer);
  expect_one_line_naming(load_error(), {images_path(), "read error after the data", "incorrect data check"});
  // Damaged compressed data.
  write_split(3, 3);
  bytes = test::read_bytes(images_path());
  for (size_t i = 20; i < 40; ++i) bytes[i] = static_cast<char>(0xff);
  test::write_bytes(images_path(), bytes);
  expect_one_line_naming(load_error(), {images_path(), "read error"});
}

TEST_F(FashionMnistFiles, NotAnIdxFile) {
  write_split(3, 3);
  test::write_gzip(labels_path(), "<html>not found</html>");
  expect_one_line_naming(load_error(), {labels_path(), "bad magic"});
}

TEST_F(FashionMnistFiles, CountsDisagree) {
  write_split(3, 4);
  expect_one_line_naming(load_error(), {labels_path(), "4 labels", images_path(), "3 images"});
}

TEST_F(FashionMnistFiles, WrongImageSize) {
  write_split(3, 3, 27);
  expect_one_line_naming(load_error(), {images_path(), "[3, 27, 28]"});
}

TEST_F(FashionMnistFiles, LabelOutOfRange) {
  write_split(3, 3, 28, 10);
  expect_one_line_naming(load_error(), {labels_path(), "label 10 of sample 2", "0..9"});
}

// ---- Byte text ----

class ByteTextFiles : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& bytes) {
    const std::string path = dir_.file(name);
    test::write_bytes(path, bytes);
    return path;
  }
  test::ScratchDir dir_{"text"};
};

std::vector<int64_t> byte_values(const std::string& text) {
  return std::vector<int64_t>(reinterpret_cast<const uint8_t*>(text.data()),
                              reinterpret_cast<const uint8_t*>(text.data()) + text.size());
}

TEST_F(ByteTextFiles, NonOverlappingWindowsWithShiftedTargets) {
  // 40 bytes, 10% eval: train is bytes [0, 36), eval [36, 40).
  const std::string text = "abcdefghijklmnopqrstuvwxyz0123456789ABCD";
  const std::string path = write("alphabet.txt", text);
  const ByteText train({.path = path, .context = 8});
  EXPECT_EQ(train.input_spec(), (SampleSpec{{8}, DType::i64}));
  EXPECT_EQ(train.size(), 4);  // windows of 9 bytes at 0, 8, 16, 24 (the next, at 32, would pass 36)
  const auto batch = gather_new(train, {3, 0});
  EXPECT_EQ(batch.inputs.to_vector<int64_t>(), byte_values("yz012345abcdefgh"));
  EXPECT_EQ(batch.targets.to_vector<int64_t>(), byte_values("z0123456bcdefghi"));
  const ByteText eval({.path = path, .context = 3, .split = TextSplit::eval});
  EXPECT_EQ(eval.size(), 1);
  EXPECT_EQ(eval.window_start(0), 36);
  EXPECT_EQ(gather_new(eval, {0}).targets.to_vector<int64_t>(), byte_values("BCD"));
}

TEST_F(ByteTextFiles, StridedWindowsStayInsideTheirSplit) {
  std::string text(1000, '\0');
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>(i * 7 % 251);
  const std::string path = write("bytes.bin", text);
  const ByteText train({.path = path, .context = 16, .stride = 5, .eval_fraction = 0.25});
  EXPECT_EQ(train.size(), (750 - 17) / 5 + 1);
  const int64_t last = train.size() - 1;
  EXPECT_LE(train.window_start(last) + 17, 750);
  const auto batch = gather_new(train, {last});
  const auto x = batch.inputs.to_vector<int64_t>();
  const auto y = batch.targets.to_vector<int64_t>();
  for (int t = 0; t < 16; ++t) {
    EXPECT_EQ(x[t], static_cast<uint8_t>(text[static_cast<size_t>(train.window_start(last) + t)]));
    if (t < 15) {
      EXPECT_EQ(y[t], x[t + 1]);
    }
  }
  const ByteText eval({.path = path, .context = 16, .stride = 5, .eval_fraction = 0.25, .split = TextSplit::eval});
  EXPECT_EQ(eval.window_start(0), 750);
  EXPECT_EQ(eval.size(), (250 - 17) / 5 + 1);
}

TEST(ByteText, ARealTextFromADebianPackage) {
  // The GPL-3 text of base-files, present on every Debian system.
  const std::string path = "/usr/share/common-licenses/GPL-3";
  const std::string text = test::read_bytes(path);
  ASSERT_GT(text.size(), 30000u);
  const ByteText corpus({.path = path, .context = 64, .eval_fraction = 0.05});
  const auto train_bytes = static_cast<int64_t>(text.size()) -
                           static_cast<int64_t>(std::floor(static_cast<double>(text.size()) * 0.05));
  EXPECT_EQ(corpus.size(), (train_bytes - 65) / 64 + 1);
  const auto batch = gather_new(corpus, {0, 100});
  const auto x = batch.inputs.to_vector<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(x.begin(), x.begin() + 64), byte_values(text.substr(0, 64)));
  EXPECT_EQ(std::vector<int64_t>(x.begin() + 64, x.end()), byte_values(text.substr(6400, 64)));
}

TEST_F(ByteTextFiles, ASparseFileLargerThanMemoryIsMappedNotRead) {
  // 64 GiB of holes plus a marker at the end: only the touched pages are ever read.
  const std::string path = dir_.file("huge.bin");
  const int64_t size = int64_t{64} << 30;
  {
    test::write_bytes(path, "");
    std::filesystem::resize_file(path, static_cast<uintmax_t>(size));
    std::FILE* f = std::fopen(path.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fseek(f, static_cast<long>(size - 4), SEEK_SET), 0);
    ASSERT_EQ(std::fwrite("tail", 1, 4, f), 4u);
    ASSERT_EQ(std::fclose(f), 0);
  }
  const ByteText text({.path = path, .context = 3, .eval_fraction = 0});
  ASSERT_EQ(text.size(), (size - 4) / 3 + 1);
  const auto batch = gather_new(text, {text.size() - 1, 0});
  // The last window starts at 3 * (size - 4) / 3 = size - 4.
  EXPECT_EQ(batch.inputs.to_vector<int64_t>(), (std::vector<int64_t>{'t', 'a', 'i', 0, 0, 0}));
  EXPECT_EQ(batch.targets.to_vector<int64_t>(), (std::vector<int64_t>{'a', 'i', 'l', 0, 0, 0}));
}

TEST_F(ByteTextFiles, BadInput) {
  const std::string missing = dir_.file("absent.txt");
  expect_one_line_naming(thrown_message<IOError>([&] { ByteText({.path = missing, .context = 4}); }),
                         {missing, "cannot open", "No such file"});
  const std::string empty = write("empty.txt", "");
  expect_one_line_naming(thrown_message<IOError>([&] { ByteText({.path = empty, .context = 4}); }),
                         {empty, "train split holds 0 bytes", "needs 5"});
  const std::string small = write("small.txt", "0123456789");
  expect_one_line_naming(thrown_message<IOError>([&] { ByteText({.path = small, .context = 4, .split = TextSplit::eval}); }),
                         {small, "eval split holds 1 bytes"});
  expect_one_line_naming(thrown_message<ValueError>([&] { ByteText({.path = small, .context = 0}); }),
                         {small, "context must be at least 1"});
  expect_one_line_naming(thrown_message<ValueError>([&] { ByteText({.path = small, .context = 2, .eval_fraction = 1}); }),
                         {small, "eval_fraction"});
  expect_one_line_naming(thrown_message<IOError>([&] { ByteText({.path = dir_.path(), .context = 2}); }),
                         {dir_.path(), "not a regular file"});
}

// ---- Synthetic ----

TEST(Synthetic, ClassificationIsAFunctionOfSeedAndIndexOnly) {
  const SyntheticClassification data({.samples = 1000, .input_shape = {3, 5}, .num_classes = 7, .seed = 11});
  EXPECT_EQ(data.input_spec(), (SampleSpec{{3, 5}, DType::f32}));
  const auto together = gather_new(data, {42, 3, 999});
  const auto alone = gather_new(data, {3});
  EXPECT_EQ(together.inputs.narrow(0, 1, 1).to_vector<float>(), alone.inputs.to_vector<float>());
  EXPECT_EQ(together.targets.to_vector<int64_t>()[1], alone.targets.to_vector<int64_t>()[0]);
  const SyntheticClassification same({.samples = 5, .input_shape = {3, 5}, .num_classes = 7, .seed = 11});
  EXPECT_EQ(gather_new(same, {3}).inputs.to_vector<float>(), alone.inputs.to_vector<float>());
  const SyntheticClassification other({.samples = 1000, .input_shape = {3, 5}, .num_classes = 7, .seed = 12});
  EXPECT_NE(gather_new(other, {3}).inputs.to_vector<float>(), alone.inputs.to_vector<float>());
}

TEST(Synthetic, ClassificationIsStandardNormalWithUniformLabels) {
  const SyntheticClassification data({.samples = 20000, .input_shape = {7}, .num_classes = 4, .seed = 1});
  std::vector<int64_t> all(20000);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  const auto batch = gather_new(data, all);
  double sum = 0, squares = 0;
  for (float v : batch.inputs.to_vector<float>()) {
    sum += v;
    squares += double{v} * v;
  }
  const double n = 20000.0 * 7;
  EXPECT_NEAR(sum / n, 0.0, 0.02);
  EXPECT_NEAR(squares / n, 1.0, 0.02);
  std::vector<int> count(4);
  for (int64_t label : batch.targets.to_vector<int64_t>()) {
    ASSERT_GE(label, 0);
    ASSERT_LT(label, 4);
    ++count[static_cast<size_t>(label)];
  }
  for (int c : count) EXPECT_NEAR(c, 5000, 300);
}

TEST(Synthetic, TokensAreShiftedSequencesInTheVocabulary) {
  const SyntheticTokens data({.samples = 100, .context = 9, .vocab = 50, .seed = 3});
  EXPECT_EQ(data.input_spec(), (SampleSpec{{9}, DType::i64}));
  const auto batch = gather_new(data, {17, 99});
  const auto x = batch.inputs.to_vector<int64_t>(), y = batch.targets.to_vector<int64_t>();
  for (int row = 0; row < 2; ++row)
    for (int t = 0; t < 9; ++t) {
      EXPECT_GE(x[row * 9 + t], 0);
      EXPECT_LT(y[row * 9 + t], 50);
      if (t < 8) {
        EXPECT_EQ(y[row * 9 + t], x[row * 9 + t + 1]);
      }
    }
  EXPECT_EQ(gather_new(data, {99}).inputs.to_vector<int64_t>(), std::vector<int64_t>(x.begin() + 9, x.end()));
  EXPECT_NE(std::vector<int64_t>(x.begin(), x.begin() + 9), std::vector<int64_t>(x.begin() + 9, x.end()));
}

TEST(Synthetic, BadOptionsAndIndices) {
  EXPECT_THROW(SyntheticClassification({.samples = 0, .input_shape = {2}, .num_classes = 2}), ValueError);
  EXPECT_THROW(SyntheticClassification({.samples = 4, .input_shape = {0}, .num_classes = 2}), ValueError);
  EXPECT_THROW(SyntheticClassification({.samples = 4, .input_shape = {2}, .num_classes = 0}), ValueError);
  EXPECT_THROW(SyntheticTokens({.samples = 4, .context = 0}), ValueError);
  EXPECT_THROW(SyntheticTokens({.samples = int64_t{1} << 62, .context = 64}), ValueError);
  const SyntheticTokens data({.samples = 4, .context = 2});
  expect_one_line_naming(thrown_message<ValueError>([&] { gather_new(data, {4}); }),
                         {"synthetic tokens", "sample index 4 is out of range"});
  const Tensor wrong = Tensor::empty({1, 3}, DType::i64);
  expect_one_line_naming(thrown_message<ValueError>([&] {
                           const std::vector<int64_t> one{0};
                           data.gather(one, wrong, wrong);
                         }),
                         {"i64 [1, 2]", "got i64 [1, 3]"});
}

}  // namespace
}  // namespace torus::data
