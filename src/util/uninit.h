// Vectors whose new elements are left uninitialised (default-initialised)
// instead of zero-filled, for large scratch buffers that are written in
// full before they are read: zero-filling tens of MiB per layer is wasted
// memory traffic in the inference engine's forward pass.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace apex {

template <class T>
struct DefaultInitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <class U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}  // NOLINT: rebinding copy

  // Value-initialisation (vector(n), resize(n)) becomes default-initialisation.
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

template <class T>
using UninitVector = std::vector<T, DefaultInitAllocator<T>>;

}  // namespace apex
