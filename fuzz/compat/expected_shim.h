// A minimal std::expected for clang 14 over libstdc++ 12, used only by the fuzz build.
//
// libstdc++ 12 ships <expected>, but guards it with `__cpp_concepts >= 202002L`, which clang 14
// does not define (it lacks P0848, conditionally trivial special members), so under clang 14
// <expected> is empty. The libFuzzer build force-includes this header (-include) to supply the
// subset of C++23 std::expected that Pioneer uses: construction from a value or from
// std::unexpected, has_value / operator bool, value / operator* / operator->, error, value_or,
// and expected<void, E>. It is never used by the normal GCC build, which has the real one.
#pragma once

#if defined(__clang__) && !defined(__cpp_lib_expected)

#include <exception>
#include <initializer_list>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace std {

template <class E>
class unexpected {
 public:
  constexpr unexpected(const unexpected&) = default;
  constexpr unexpected(unexpected&&) = default;
  template <class Err = E,
            class = enable_if_t<!is_same_v<remove_cvref_t<Err>, unexpected> &&
                                !is_same_v<remove_cvref_t<Err>, in_place_t> && is_constructible_v<E, Err>>>
  constexpr explicit unexpected(Err&& e) : error_(std::forward<Err>(e)) {}
  template <class... Args>
  constexpr explicit unexpected(in_place_t, Args&&... args) : error_(std::forward<Args>(args)...) {}
  constexpr const E& error() const& noexcept { return error_; }
  constexpr E& error() & noexcept { return error_; }
  constexpr E&& error() && noexcept { return std::move(error_); }
  constexpr const E&& error() const&& noexcept { return std::move(error_); }

 private:
  E error_;
};
template <class E>
unexpected(E) -> unexpected<E>;

struct unexpect_t {
  explicit unexpect_t() = default;
};
inline constexpr unexpect_t unexpect{};

template <class E>
class bad_expected_access;
template <>
class bad_expected_access<void> : public exception {
 public:
  const char* what() const noexcept override { return "bad access to std::expected without expected value"; }
};
template <class E>
class bad_expected_access : public bad_expected_access<void> {
 public:
  explicit bad_expected_access(E e) : error_(std::move(e)) {}
  const E& error() const& noexcept { return error_; }

 private:
  E error_;
};

template <class T, class E>
class expected {
 public:
  using value_type = T;
  using error_type = E;
  using unexpected_type = unexpected<E>;

  expected() : has_(true) { ::new (addressof(val_)) T(); }
  expected(const expected& o) : has_(o.has_) {
    if (has_) ::new (addressof(val_)) T(o.val_);
    else ::new (addressof(err_)) E(o.err_);
  }
  expected(expected&& o) noexcept(is_nothrow_move_constructible_v<T> && is_nothrow_move_constructible_v<E>)
      : has_(o.has_) {
    if (has_) ::new (addressof(val_)) T(std::move(o.val_));
    else ::new (addressof(err_)) E(std::move(o.err_));
  }
  template <class U = T,
            class = enable_if_t<!is_same_v<remove_cvref_t<U>, expected> && !is_same_v<remove_cvref_t<U>, in_place_t> &&
                                !is_same_v<remove_cvref_t<U>, unexpect_t> &&
                                !is_same_v<remove_cvref_t<U>, unexpected<E>> && is_constructible_v<T, U>>>
  expected(U&& v) : has_(true) {
    ::new (addressof(val_)) T(std::forward<U>(v));
  }
  template <class G>
  expected(const unexpected<G>& u) : has_(false) {
    ::new (addressof(err_)) E(u.error());
  }
  template <class G>
  expected(unexpected<G>&& u) : has_(false) {
    ::new (addressof(err_)) E(std::move(u).error());
  }
  template <class... Args>
  explicit expected(in_place_t, Args&&... args) : has_(true) {
    ::new (addressof(val_)) T(std::forward<Args>(args)...);
  }
  template <class... Args>
  explicit expected(unexpect_t, Args&&... args) : has_(false) {
    ::new (addressof(err_)) E(std::forward<Args>(args)...);
  }
  ~expected() { destroy(); }

  expected& operator=(const expected& o) {
    if (this != &o) {
      destroy();
      has_ = o.has_;
      if (has_) ::new (addressof(val_)) T(o.val_);
      else ::new (addressof(err_)) E(o.err_);
    }
    return *this;
  }
  expected& operator=(expected&& o) noexcept(is_nothrow_move_constructible_v<T> && is_nothrow_move_constructible_v<E>) {
    if (this != &o) {
      destroy();
      has_ = o.has_;
      if (has_) ::new (addressof(val_)) T(std::move(o.val_));
      else ::new (addressof(err_)) E(std::move(o.err_));
    }
    return *this;
  }
  template <class U = T, class = enable_if_t<!is_same_v<remove_cvref_t<U>, expected> &&
                                             !is_same_v<remove_cvref_t<U>, unexpected<E>> && is_constructible_v<T, U>>>
  expected& operator=(U&& v) {
    destroy();
    ::new (addressof(val_)) T(std::forward<U>(v));
    has_ = true;
    return *this;
  }
  template <class G>
  expected& operator=(unexpected<G> u) {
    destroy();
    ::new (addressof(err_)) E(std::move(u).error());
    has_ = false;
    return *this;
  }
  template <class... Args>
  T& emplace(Args&&... args) {
    destroy();
    ::new (addressof(val_)) T(std::forward<Args>(args)...);
    has_ = true;
    return val_;
  }

  constexpr bool has_value() const noexcept { return has_; }
  constexpr explicit operator bool() const noexcept { return has_; }
  const T* operator->() const noexcept { return addressof(val_); }
  T* operator->() noexcept { return addressof(val_); }
  const T& operator*() const& noexcept { return val_; }
  T& operator*() & noexcept { return val_; }
  T&& operator*() && noexcept { return std::move(val_); }
  const T& value() const& {
    if (!has_) throw bad_expected_access<E>(err_);
    return val_;
  }
  T& value() & {
    if (!has_) throw bad_expected_access<E>(err_);
    return val_;
  }
  T&& value() && {
    if (!has_) throw bad_expected_access<E>(err_);
    return std::move(val_);
  }
  const E& error() const& noexcept { return err_; }
  E& error() & noexcept { return err_; }
  E&& error() && noexcept { return std::move(err_); }
  template <class U>
  T value_or(U&& d) const& {
    return has_ ? val_ : static_cast<T>(std::forward<U>(d));
  }
  template <class U>
  T value_or(U&& d) && {
    return has_ ? std::move(val_) : static_cast<T>(std::forward<U>(d));
  }

  template <class T2, class E2>
  friend bool operator==(const expected& a, const expected<T2, E2>& b) {
    if (a.has_value() != b.has_value()) return false;
    return a.has_value() ? *a == *b : a.error() == b.error();
  }

 private:
  void destroy() {
    if (has_) val_.~T();
    else err_.~E();
  }
  bool has_;
  union {
    T val_;
    E err_;
  };
};

template <class E>
class expected<void, E> {
 public:
  using value_type = void;
  using error_type = E;
  using unexpected_type = unexpected<E>;

  expected() noexcept : has_(true) {}
  expected(const expected& o) : has_(o.has_) {
    if (!has_) ::new (addressof(err_)) E(o.err_);
  }
  expected(expected&& o) noexcept(is_nothrow_move_constructible_v<E>) : has_(o.has_) {
    if (!has_) ::new (addressof(err_)) E(std::move(o.err_));
  }
  template <class G>
  expected(const unexpected<G>& u) : has_(false) {
    ::new (addressof(err_)) E(u.error());
  }
  template <class G>
  expected(unexpected<G>&& u) : has_(false) {
    ::new (addressof(err_)) E(std::move(u).error());
  }
  explicit expected(in_place_t) noexcept : has_(true) {}
  template <class... Args>
  explicit expected(unexpect_t, Args&&... args) : has_(false) {
    ::new (addressof(err_)) E(std::forward<Args>(args)...);
  }
  ~expected() { destroy(); }
  expected& operator=(const expected& o) {
    if (this != &o) {
      destroy();
      has_ = o.has_;
      if (!has_) ::new (addressof(err_)) E(o.err_);
    }
    return *this;
  }
  expected& operator=(expected&& o) noexcept(is_nothrow_move_constructible_v<E>) {
    if (this != &o) {
      destroy();
      has_ = o.has_;
      if (!has_) ::new (addressof(err_)) E(std::move(o.err_));
    }
    return *this;
  }
  template <class G>
  expected& operator=(unexpected<G> u) {
    destroy();
    ::new (addressof(err_)) E(std::move(u).error());
    has_ = false;
    return *this;
  }
  void emplace() noexcept {
    destroy();
    has_ = true;
  }

  constexpr bool has_value() const noexcept { return has_; }
  constexpr explicit operator bool() const noexcept { return has_; }
  void operator*() const noexcept {}
  void value() const {
    if (!has_) throw bad_expected_access<E>(err_);
  }
  const E& error() const& noexcept { return err_; }
  E& error() & noexcept { return err_; }
  E&& error() && noexcept { return std::move(err_); }

 private:
  void destroy() {
    if (!has_) err_.~E();
    has_ = true;
  }
  bool has_;
  union {
    E err_;
  };
};

}  // namespace std

#endif
