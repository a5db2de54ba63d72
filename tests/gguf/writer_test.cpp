// The writer's contract beyond the bytes: streaming in pieces, atomic
// replacement through a temp file, nothing left behind on any failure, and
// layouts it refuses.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include "test_support.h"

namespace apex::gguf::testing {
namespace {

Content two_tensors() {
  Content c;
  c.layout.set("general.architecture", std::string("llama"));
  c.add_tensor("a", 0, {1000, 700});  // 2.8 MB: larger than the write buffer
  c.add_tensor("b", 8, {64, 3});
  return c;
}

TEST(GgufWriter, StreamingInPiecesEqualsOneShot) {
  ScratchDir dir;
  const Content c = two_tensors();
  ASSERT_TRUE(write_file(dir.file("one.gguf"), c.layout, c.spans()).ok());

  auto w = Writer::create(dir.file("pieces.gguf"), c.layout);
  ASSERT_TRUE(w.ok()) << w.message();
  for (size_t i = 0; i < c.data.size(); ++i) {
    // Odd piece sizes, including empty ones and one larger than the buffer.
    std::span<const uint8_t> rest(c.data[i]);
    size_t step = 1;
    while (!rest.empty()) {
      const size_t k = std::min(rest.size(), step);
      ASSERT_TRUE((*w)->write(rest.first(k)).ok());
      ASSERT_TRUE((*w)->write({}).ok());
      rest = rest.subspan(k);
      step = step * 7 + 3;
    }
    ASSERT_TRUE((*w)->end_tensor().ok());
  }
  ASSERT_TRUE((*w)->finish().ok());
  EXPECT_TRUE(read_bytes(dir.file("one.gguf")) == read_bytes(dir.file("pieces.gguf")));
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"one.gguf", "pieces.gguf"}));
}

TEST(GgufWriter, TempFileBesideTargetUntilFinish) {
  ScratchDir dir;
  const Content c = two_tensors();
  const std::string target = dir.file("out.gguf");
  auto w = Writer::create(target, c.layout);
  ASSERT_TRUE(w.ok());
  const std::string temp = (*w)->temp_path();
  EXPECT_EQ(temp.rfind(target + ".tmp.", 0), 0u) << temp;
  EXPECT_TRUE(std::filesystem::exists(temp));
  EXPECT_FALSE(std::filesystem::exists(target));
  ASSERT_TRUE((*w)->write_tensor(c.data[0]).ok());
  ASSERT_TRUE((*w)->write_tensor(c.data[1]).ok());
  EXPECT_FALSE(std::filesystem::exists(target));
  ASSERT_TRUE((*w)->finish().ok());
  EXPECT_TRUE(std::filesystem::exists(target));
  EXPECT_FALSE(std::filesystem::exists(temp));
  EXPECT_EQ(std::filesystem::file_size(target), c.layout.total_bytes());
}

TEST(GgufWriter, DestroyedBeforeFinishLeavesNothing) {
  ScratchDir dir;
  const Content c = two_tensors();
  {
    auto w = Writer::create(dir.file("out.gguf"), c.layout);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(std::span(c.data[0]).first(12345)).ok());
  }
  EXPECT_TRUE(dir.entries().empty());
  {
    // Every tensor written but finish() never called.
    auto w = Writer::create(dir.file("out.gguf"), c.layout);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write_tensor(c.data[0]).ok());
    ASSERT_TRUE((*w)->write_tensor(c.data[1]).ok());
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(GgufWriter, ExistingTargetUntouchedUntilFinish) {
  ScratchDir dir;
  const std::string target = dir.file("model.gguf");
  const std::vector<uint8_t> old_bytes = random_bytes(1000, 7);
  write_bytes(target, old_bytes);
  const Content c = two_tensors();
  {
    auto w = Writer::create(target, c.layout);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write_tensor(c.data[0]).ok());
    EXPECT_TRUE(read_bytes(target) == old_bytes);
  }
  EXPECT_TRUE(read_bytes(target) == old_bytes);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.gguf"});
  // A finished writer replaces it.
  ASSERT_TRUE(write_file(target, c.layout, c.spans()).ok());
  EXPECT_EQ(std::filesystem::file_size(target), c.layout.total_bytes());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.gguf"});
}

TEST(GgufWriter, MisuseIsAnErrorAndRemovesTheTempFile) {
  ScratchDir dir;
  const Content c = two_tensors();
  const std::string target = dir.file("out.gguf");
  {
    auto w = Writer::create(target, c.layout);
    ASSERT_TRUE(w.ok());
    std::vector<uint8_t> too_much(c.data[0].size() + 1);
    Status s = (*w)->write(too_much);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("tensor 'a'"), std::string::npos) << s.message();
    EXPECT_TRUE(dir.entries().empty());  // removed at once, not only on destruction
    EXPECT_FALSE((*w)->finish().ok());    // the failure sticks
    EXPECT_FALSE(std::filesystem::exists(target));
  }
  {
    auto w = Writer::create(target, c.layout);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(std::span(c.data[0]).first(10)).ok());
    Status s = (*w)->end_tensor();
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("ended after 10 of its 2800000 bytes"), std::string::npos) << s.message();
  }
  {
    auto w = Writer::create(target, c.layout);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write_tensor(c.data[0]).ok());
    Status s = (*w)->finish();
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("finish() after 1 of 2 tensors"), std::string::npos) << s.message();
  }
  {
    auto w = Writer::create(target, c.layout);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write_tensor(c.data[0]).ok());
    ASSERT_TRUE((*w)->write_tensor(c.data[1]).ok());
    EXPECT_FALSE((*w)->write_tensor(c.data[1]).ok());  // no third tensor
  }
  EXPECT_TRUE(dir.entries().empty());
  EXPECT_FALSE(write_file(target, c.layout, {}).ok());  // wrong number of buffers
}

TEST(GgufWriter, WriteErrorLeavesNoFiles) {
  // A file-size limit makes write() fail with EFBIG part-way through (the
  // death-test child keeps the limit away from the rest of the tests).
  ScratchDir dir;
  const std::string target = dir.file("out.gguf");
  const std::vector<uint8_t> old_bytes = random_bytes(100, 3);
  write_bytes(target, old_bytes);
  const Content c = two_tensors();
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  // (A lambda: commas inside braces would split the macro's arguments.)
  auto child = [&] {
        signal(SIGXFSZ, SIG_IGN);
        rlimit lim{1 << 20, 1 << 20};
        setrlimit(RLIMIT_FSIZE, &lim);
        auto w = Writer::create(target, c.layout);
        if (!w.ok()) std::exit(10);
        Status s = (*w)->write_tensor(c.data[0]);
        if (s.ok()) s = (*w)->write_tensor(c.data[1]);
        if (s.ok()) s = (*w)->finish();
        if (s.ok()) std::exit(11);
        if (s.message().find("File too large") == std::string::npos) std::exit(12);
        w->reset();
        std::exit(dir.entries() == std::vector<std::string>{"out.gguf"} ? 0 : 13);
  };
  EXPECT_EXIT(child(), ::testing::ExitedWithCode(0), "");
  EXPECT_TRUE(read_bytes(target) == old_bytes);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.gguf"});
}

TEST(GgufWriter, CannotCreateInMissingDirectory) {
  ScratchDir dir;
  const std::string target = dir.file("no/such/dir/out.gguf");
  auto w = Writer::create(target, two_tensors().layout);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.message().rfind(target + ": cannot create temp file", 0), 0u) << w.message();
}

TEST(GgufWriter, RejectsInvalidLayouts) {
  ScratchDir dir;
  auto expect_refused = [&](Layout l, const std::string& words) {
    auto w = Writer::create(dir.file("x.gguf"), std::move(l));
    ASSERT_FALSE(w.ok()) << words;
    EXPECT_NE(w.message().find(words), std::string::npos) << w.message();
    EXPECT_TRUE(dir.entries().empty());
  };
  Layout base = two_tensors().layout;
  {
    Layout l = base;
    l.kvs.push_back(l.kvs[0]);
    expect_refused(l, "duplicate key 'general.architecture'");
  }
  {
    Layout l = base;
    l.set("", uint8_t{1});
    expect_refused(l, "empty metadata key");
  }
  {
    Layout l = base;
    l.set("arr", Array{ValueType::UINT32, {Value(uint32_t{1}), Value(int32_t{2})}});
    expect_refused(l, "key 'arr': element 1 is i32 in an array of u32");
  }
  {
    Layout l = base;
    l.version = 1;
    expect_refused(l, "version 1");
  }
  {
    Layout l = base;
    l.alignment = 64;  // without the key readers would assume 32
    expect_refused(l, "alignment 64 needs a 'general.alignment' key");
  }
  {
    Layout l = base;
    l.set(kAlignmentKey, uint32_t{64});
    l.alignment = 128;
    expect_refused(l, "differs");
  }
  {
    Layout l = base;
    l.set(kAlignmentKey, uint32_t{24});
    expect_refused(l, "24 is not a power of two");
  }
  {
    Layout l = base;
    l.set(kAlignmentKey, uint64_t{64});
    expect_refused(l, "must be u32");
  }
  {
    Layout l = base;
    l.tensors[1].name = l.tensors[0].name;
    expect_refused(l, "duplicate tensor name 'a'");
  }
  {
    Layout l = base;
    l.tensors[1].name = std::string(64, 'n');
    expect_refused(l, "longer than ggml's limit of 63");
  }
  {
    Layout l = base;
    l.tensors[1].nbytes = 5;
    expect_refused(l, "tensor 'b': nbytes 5 but its type and shape make 204");
  }
  {
    Layout l = base;
    l.tensors[1].ne = {100};
    l.tensors[1].nbytes = 0;
    expect_refused(l, "tensor 'b': ne[0] = 100 is not a multiple of Q8_0's block size 32");
  }
  {
    Layout l = base;
    l.tensors[1].type = 4;
    expect_refused(l, "unknown or retired ggml type id 4");
  }
  {
    Layout l = base;
    l.tensors[1].ne = {32, 1, 1, 1, 1};
    expect_refused(l, "5 dims");
  }
}

TEST(GgufWriter, NbytesIsFilledInWhenZero) {
  Layout l;
  TensorInfo t;
  t.name = "x";
  t.type = 12;  // Q4_K
  t.ne = {512, 3};
  l.tensors.push_back(t);
  auto header = serialize_header(l);
  ASSERT_TRUE(header.ok()) << header.message();
  EXPECT_EQ(l.tensors[0].nbytes, 2u * 144u * 3u);
  EXPECT_EQ(header->size(), l.header_bytes());
  EXPECT_EQ(l.total_bytes(), l.header_bytes() + 864u);
}

}  // namespace
}  // namespace apex::gguf::testing
