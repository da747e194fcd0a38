#pragma once
// Saving and loading: modules, optimizers and generators to and from files PyTorch reads and
// writes. Modules and named tensors go to safetensors; a module also loads from what
// torch.save(model.state_dict()) writes. Needs nlohmann/json (Debian: nlohmann-json3-dev; CMake
// target tapegrad::io); the umbrella header includes this one when that is installed.
//
// Every load is all or nothing: the file is read and checked whole, then converted and checked
// against its destination, and only then written into it; a missing, truncated or corrupt
// file, or keys and shapes that do not fit, throw tapegrad::Error naming the file and change
// nothing. Every save writes a temporary file and renames it over the path.
#include <string>
#include <utility>
#include <vector>

#include "core/generator.hpp"
#include "io/record.hpp"
#include "io/safetensors.hpp"
#include "io/torch_file.hpp"
#include "nn/module.hpp"
#include "optim/optimizer.hpp"

namespace tapegrad {

template <class T>
using NamedTensors = std::vector<std::pair<std::string, Tensor<T>>>;

namespace io::detail {

// The tensors of a state-dict file: torch.save's zip archive, or else safetensors.
TAPEGRAD_COLD inline TensorRecords read_state_file(const std::string& path, Metadata* metadata = nullptr) {
  const std::vector<uint8_t> bytes = read_file(path);
  if (is_zip(bytes.data(), bytes.size())) return read_torch_file(bytes.data(), bytes.size(), path);
  return read_safetensors(bytes.data(), bytes.size(), path, metadata);
}

template <class T>
TAPEGRAD_COLD NamedTensors<T> to_named(const TensorRecords& records, const std::string& path) {
  NamedTensors<T> out;
  out.reserve(records.size());
  for (const TensorRecord& r : records) out.push_back({r.name, to_tensor<T>(r, "load: " + path + ": \"" + r.name + "\"")});
  return out;
}

// Runs `f`; a tapegrad::Error it throws comes out with "load: <path>: " in front.
template <class F>
TAPEGRAD_COLD void naming_file(const std::string& path, F&& f) {
  try {
    f();
  } catch (const Error& e) {
    throw Error("load: " + path + ": " + e.what());
  }
}

template <class T>
TAPEGRAD_COLD TensorRecords to_records(const NamedTensors<T>& named, const std::vector<std::string>& integral = {}) {
  TensorRecords records;
  records.reserve(named.size());
  for (const auto& [name, t] : named) {
    check(t.defined(), "save: \"", name, "\" is an undefined tensor");
    const bool is_integral = std::find(integral.begin(), integral.end(), name) != integral.end();
    records.push_back(to_record(name, t, is_integral ? DType::I64 : dtype_of<T>()));
  }
  return records;
}

}  // namespace io::detail

// Named tensors as a safetensors file (F32 or F64 as T); `metadata` goes to "__metadata__".
template <class T>
TAPEGRAD_COLD void save_tensors(const NamedTensors<T>& named, const std::string& path, const io::Metadata& metadata = {}) {
  io::write_file(path, io::write_safetensors(io::detail::to_records(named), metadata));
}

// The tensors of a safetensors file, in the order of their data, converted to T.
template <class T = float>
TAPEGRAD_COLD NamedTensors<T> load_tensors(const std::string& path, io::Metadata* metadata = nullptr) {
  const std::vector<uint8_t> bytes = io::read_file(path);
  return io::detail::to_named<T>(io::read_safetensors(bytes.data(), bytes.size(), path, metadata), path);
}

// The module's state_dict() as safetensors, as PyTorch's keys and dtypes have it: floating
// tensors as T (F32 or F64), num_batches_tracked as I64; metadata {"format": "pt"}.
template <class T>
TAPEGRAD_COLD void save(const nn::Module<T>& module, const std::string& path) {
  io::write_file(path, io::write_safetensors(io::detail::to_records(module.state_dict(), module.integral_state_keys()),
                                             {{"format", "pt"}}));
}

// Loads a state dict saved by tg::save, by safetensors' save_file(model.state_dict()) or by
// torch.save(model.state_dict()) into the module (F16, BF16, F32, F64 and integers convert to
// T); see Module::load_state_dict for `strict` and for what a non-strict load returns.
template <class T>
TAPEGRAD_COLD typename nn::Module<T>::LoadResult load(nn::Module<T>& module, const std::string& path, bool strict = true) {
  const NamedTensors<T> sd = io::detail::to_named<T>(io::detail::read_state_file(path), path);
  typename nn::Module<T>::LoadResult result;
  io::detail::naming_file(path, [&] { result = module.load_state_dict(sd, strict); });
  return result;
}

// An optimizer's state as safetensors: its per-parameter tensors under torch.optim's keys
// ("state.0.step", "state.0.exp_avg", ...; step as F32, as torch 1.13 keeps it), and in the
// metadata the class ("optimizer": "Adam") and "param_groups" as the JSON of torch's
// state_dict()["param_groups"] (options, then "params": [0, 1, ...]).
template <class T>
TAPEGRAD_COLD void save(const optim::Optimizer<T>& optimizer, const std::string& path) {
  const typename optim::Optimizer<T>::State state = optimizer.state_dict();
  io::TensorRecords records;
  for (const auto& [key, t] : state.tensors) {
    const bool is_step = key.size() > 5 && key.compare(key.size() - 5, 5, ".step") == 0;
    records.push_back(io::to_record("state." + key, t, is_step ? io::DType::F32 : io::dtype_of<T>()));
  }
  using Json = io::detail::json_for<nlohmann::ordered_json, T>;
  Json group = Json::object();
  for (const auto& o : state.options) {
    const size_t dot = o.name.find('.');
    if (dot == std::string::npos) {
      group[o.name] = o.boolean ? Json(o.value != 0) : Json(o.value);
    } else {  // "betas.0": element 0 of the list "betas"
      group[o.name.substr(0, dot)].push_back(o.value);
    }
  }
  std::vector<int64_t> params(optimizer.parameters().size());
  for (size_t i = 0; i < params.size(); ++i) params[i] = static_cast<int64_t>(i);
  group["params"] = params;
  const Json groups = Json::array({group});
  io::write_file(path, io::write_safetensors(records, {{"optimizer", optimizer.name()}, {"param_groups", groups.dump()}}));
}

// Loads what tg::save(optimizer, path) wrote into an optimizer of the same class over the same
// parameters.
template <class T>
TAPEGRAD_COLD void load(optim::Optimizer<T>& optimizer, const std::string& path) {
  using io::detail::check;
  io::Metadata metadata;
  const std::vector<uint8_t> bytes = io::read_file(path);
  const io::TensorRecords records = io::read_safetensors(bytes.data(), bytes.size(), path, &metadata);
  const std::string file = "load: " + path;
  std::string cls, groups_text;
  for (const auto& [key, value] : metadata) {
    if (key == "optimizer") cls = value;
    if (key == "param_groups") groups_text = value;
  }
  check(!cls.empty() && !groups_text.empty(), file, ": not an optimizer checkpoint (no \"optimizer\" and \"param_groups\" metadata)");
  check(cls == optimizer.name(), file, ": a checkpoint of ", cls, ", not of ", optimizer.name());
  using Json = io::detail::json_for<nlohmann::json, T>;
  const Json groups = Json::parse(groups_text, nullptr, false);
  check(!groups.is_discarded() && groups.is_array(), file, ": \"param_groups\" is not a JSON list");
  check(groups.size() == 1, file, ": ", groups.size(), " param groups; tapegrad's optimizers have one");
  const Json& group = groups[0];
  check(group.is_object(), file, ": the param group is not a JSON object");

  typename optim::Optimizer<T>::State state;
  check(group.contains("params"), file, ": the param group has no \"params\"");
  for (auto it = group.begin(); it != group.end(); ++it) {
    const std::string& name = it.key();
    const Json& value = it.value();
    if (name == "params") {
      check(value.is_array() && value.size() == optimizer.parameters().size(), file, ": the checkpoint is of ",
            value.is_array() ? value.size() : 0, " parameters, the optimizer has ", optimizer.parameters().size());
      for (size_t i = 0; i < value.size(); ++i) {
        check(value[i].is_number_integer() && value[i].template get<int64_t>() == static_cast<int64_t>(i), file,
              ": \"params\" is not 0, 1, ..., ", value.size() - 1);
      }
    } else if (value.is_boolean()) {
      state.options.push_back({name, value.template get<bool>() ? 1.0 : 0.0, true});
    } else if (value.is_number()) {
      state.options.push_back({name, value.template get<double>()});
    } else if (value.is_array()) {
      for (size_t i = 0; i < value.size(); ++i) {
        check(value[i].is_number(), file, ": option \"", name, "\" holds ", value[i].dump());
        state.options.push_back({name + "." + std::to_string(i), value[i].template get<double>()});
      }
    } else {  // torch's foreach and fused may be None; any other option must have a value
      check(value.is_null() && (name == "foreach" || name == "fused"), file, ": option \"", name, "\" holds ",
            value.dump());
    }
  }
  for (const io::TensorRecord& r : records) {
    check(r.name.compare(0, 6, "state.") == 0, file, ": unexpected key \"", r.name, "\"");
    state.tensors.push_back({r.name.substr(6), io::to_tensor<T>(r, file + ": \"" + r.name + "\"")});
  }
  io::detail::naming_file(path, [&] { optimizer.load_state_dict(state); });
}

// A generator's state (torch.get_rng_state()'s 5056 bytes) as safetensors: one U8 tensor
// "rng_state", which torch.set_rng_state takes as it is.
TAPEGRAD_COLD inline void save(Generator& gen, const std::string& path) {
  io::TensorRecord r;
  r.name = "rng_state";
  r.dtype = io::DType::U8;
  r.bytes = gen.get_state();
  r.shape = {static_cast<int64_t>(r.bytes.size())};
  io::write_file(path, io::write_safetensors({r}, {{"format", "pt"}}));
}

TAPEGRAD_COLD inline void load(Generator& gen, const std::string& path) {
  const std::vector<uint8_t> bytes = io::read_file(path);
  const io::TensorRecords records = io::read_safetensors(bytes.data(), bytes.size(), path);
  io::detail::check(records.size() == 1 && records[0].name == "rng_state" && records[0].dtype == io::DType::U8 &&
                        records[0].shape.size() == 1,
                    "load: ", path, ": not a generator state (one U8 tensor \"rng_state\")");
  io::detail::naming_file(path, [&] { gen.set_state(records[0].bytes); });
}

}  // namespace tapegrad
