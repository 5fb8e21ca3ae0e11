// SPDX-License-Identifier: Apache-2.0
#include "kube/bounded_json.h"

#include <algorithm>
#include <vector>

namespace lameduck {
namespace {

using nlohmann::json;

// nlohmann's SAX interface, building a DOM of only the kept values. path_ holds one entry
// per open kept container: the current key of an object, "[]" for an array.
class PrunedBuilder {
 public:
  PrunedBuilder(const JsonBounds& bounds, const std::function<bool(JsonPath)>& keep,
                const std::function<JsonElement(JsonPath, json&)>& element)
      : bounds_(bounds), keep_(keep), element_(element) {}

  bool null() { return scalar(json(nullptr)); }
  bool boolean(bool value) { return scalar(json(value)); }
  bool number_integer(json::number_integer_t value) { return scalar(json(value)); }
  bool number_unsigned(json::number_unsigned_t value) { return scalar(json(value)); }
  bool number_float(json::number_float_t value, const std::string&) { return scalar(json(value)); }
  bool string(std::string& value) { return scalar(json(std::move(value))); }
  bool binary(json::binary_t&) { return stop("binary data in JSON text"); }
  bool start_object(std::size_t) { return open(json::value_t::object); }
  bool start_array(std::size_t) { return open(json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(std::string& name) {
    if (skipping_ == 0) path_.back() = name;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    error_ = e.what();
    return false;
  }

  json& root() { return root_; }
  std::string& error() { return error_; }

 private:
  bool stop(std::string why) {
    error_ = std::move(why);
    return false;
  }

  bool wanted() const { return frames_.empty() || keep_(path_); }

  // Puts a value where the parser is (root, array element or object member).
  json* place(json value) {
    if (frames_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    json& parent = *frames_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    json& slot = parent[path_.back()];
    slot = std::move(value);
    return &slot;
  }

  // A kept value is complete; an array element goes to the caller's element().
  bool done() {
    if (frames_.empty() || !frames_.back()->is_array() || !element_) return true;
    json& array = *frames_.back();
    switch (element_(path_, array.back())) {
      case JsonElement::keep: return true;
      case JsonElement::drop: array.get_ref<json::array_t&>().pop_back(); return true;
      case JsonElement::stop: return stop("stopped");
    }
    return true;
  }

  bool scalar(json value) {
    if (skipping_ > 0 || !wanted()) return true;
    place(std::move(value));
    return done();
  }

  bool open(json::value_t type) {
    if (++depth_ > bounds_.max_depth) {
      return stop("JSON nested deeper than " + std::to_string(bounds_.max_depth) + " levels");
    }
    if (skipping_ > 0 || !wanted()) {
      ++skipping_;
      return true;
    }
    frames_.push_back(place(json(type)));
    path_.emplace_back(type == json::value_t::array ? "[]" : "");
    return true;
  }

  bool close() {
    --depth_;
    if (skipping_ > 0) {
      --skipping_;
      return true;
    }
    frames_.pop_back();
    path_.pop_back();
    return done();
  }

  const JsonBounds& bounds_;
  const std::function<bool(JsonPath)>& keep_;
  const std::function<JsonElement(JsonPath, json&)>& element_;
  json root_;
  std::vector<json*> frames_;
  std::vector<std::string> path_;
  std::size_t depth_ = 0;
  std::size_t skipping_ = 0;  // open containers inside a skipped value
  std::string error_;
};

}  // namespace

BoundedJson parse_bounded(std::string_view text, const JsonBounds& bounds,
                          const std::function<bool(JsonPath)>& keep,
                          const std::function<JsonElement(JsonPath, json&)>& element) {
  BoundedJson out;
  try {
    PrunedBuilder builder(bounds, keep, element);
    bool ok = json::sax_parse(text, &builder);
    if (!ok) {
      out.error = builder.error().empty() ? "malformed JSON" : std::move(builder.error());
      return out;
    }
    out.value = std::move(builder.root());
  } catch (const std::exception& e) {  // allocation, or a callback's bug
    out.error = e.what();
  }
  return out;
}

bool path_is(JsonPath path, std::initializer_list<std::string_view> components) {
  return path.size() == components.size() &&
         std::equal(path.begin(), path.end(), components.begin(),
                    [](const std::string& a, std::string_view b) { return a == b; });
}

}  // namespace lameduck
