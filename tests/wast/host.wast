;; The host environment `cohost wast` links components against (the one
;; component-model suites written for wasmtime's runner import), and the
;; link errors of imports it does not satisfy, in the suites' words.

;; Functions at the top level and in the instance `host`.
(component
  (import "host-return-two" (func $two (result u32)))
  (import "host" (instance $host
    (export "return-three" (func (result u32)))
    (export "return-hi" (func (result string)))))
  (alias export $host "return-three" (func $three))
  (alias export $host "return-hi" (func $hi))
  (core module $libc
    (memory (export "memory") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 256)))
  (core instance $libc (instantiate $libc))
  (core func $two (canon lower (func $two)))
  (core func $three (canon lower (func $three)))
  (core func $hi (canon lower (func $hi)
    (memory $libc "memory") (realloc (func $libc "realloc"))))
  (core module $m
    (import "libc" "memory" (memory 1))
    (import "" "two" (func $two (result i32)))
    (import "" "three" (func $three (result i32)))
    (import "" "hi" (func $hi (param i32)))
    (func (export "five") (result i32) (i32.add (call $two) (call $three)))
    ;; the length of "hi", and its first byte
    (func (export "hi") (result i32)
      (call $hi (i32.const 8))
      (i32.add
        (i32.mul (i32.load (i32.const 12)) (i32.const 1000))
        (i32.load8_u (i32.load (i32.const 8))))))
  (core instance $m (instantiate $m
    (with "libc" (instance (export "memory" (memory $libc "memory"))))
    (with "" (instance
      (export "two" (func $two))
      (export "three" (func $three))
      (export "hi" (func $hi))))))
  (func (export "five") (result u32) (canon lift (core func $m "five")))
  (func (export "hi") (result u32) (canon lift (core func $m "hi"))))
(assert_return (invoke "five") (u32.const 5))
(assert_return (invoke "hi") (u32.const 2104))

;; The host resource `resource1`: made by the host with a rep, checked by
;; the host as own and as borrow, dropped by the guest (the host's
;; destructor counts it and keeps the last rep).
(component
  (import "host" (instance $host
    (export "resource1" (type $r (sub resource)))
    (export "[constructor]resource1" (func (param "r" u32) (result (own $r))))
    (export "[static]resource1.assert" (func (param "r" (own $r)) (param "rep" u32)))
    ;; parameter names are the guest's: the host calls the second `rep`
    (export "[method]resource1.simple" (func (param "self" (borrow $r)) (param "b" u32)))
    (export "[static]resource1.drops" (func (result u32)))
    (export "[static]resource1.last-drop" (func (result u32)))))
  (alias export $host "resource1" (type $r))
  (alias export $host "[constructor]resource1" (func $ctor))
  (alias export $host "[static]resource1.assert" (func $assert))
  (alias export $host "[method]resource1.simple" (func $simple))
  (alias export $host "[static]resource1.drops" (func $drops))
  (alias export $host "[static]resource1.last-drop" (func $last-drop))
  (core func $ctor (canon lower (func $ctor)))
  (core func $assert (canon lower (func $assert)))
  (core func $simple (canon lower (func $simple)))
  (core func $drops (canon lower (func $drops)))
  (core func $last-drop (canon lower (func $last-drop)))
  (core func $drop (canon resource.drop $r))
  (core module $m
    (import "" "ctor" (func $ctor (param i32) (result i32)))
    (import "" "assert" (func $assert (param i32 i32)))
    (import "" "simple" (func $simple (param i32 i32)))
    (import "" "drops" (func $drops (result i32)))
    (import "" "last-drop" (func $last-drop (result i32)))
    (import "" "drop" (func $drop (param i32)))
    (global $h (mut i32) (i32.const 0))
    (func (export "make") (param i32) (result i32)
      (global.set $h (call $ctor (local.get 0)))
      (global.get $h))
    (func (export "simple") (param i32) (call $simple (global.get $h) (local.get 0)))
    (func (export "give") (param i32) (call $assert (global.get $h) (local.get 0)))
    (func (export "drop") (call $drop (global.get $h)))
    (func (export "drops") (result i32) (call $drops))
    (func (export "last-drop") (result i32) (call $last-drop)))
  (core instance $m (instantiate $m (with "" (instance
    (export "ctor" (func $ctor))
    (export "assert" (func $assert))
    (export "simple" (func $simple))
    (export "drops" (func $drops))
    (export "last-drop" (func $last-drop))
    (export "drop" (func $drop))))))
  (func (export "make") (param "rep" u32) (result u32) (canon lift (core func $m "make")))
  (func (export "simple") (param "rep" u32) (canon lift (core func $m "simple")))
  (func (export "give") (param "rep" u32) (canon lift (core func $m "give")))
  (func (export "drop") (canon lift (core func $m "drop")))
  (func (export "drops") (result u32) (canon lift (core func $m "drops")))
  (func (export "last-drop") (result u32) (canon lift (core func $m "last-drop"))))
;; handles start at 1; giving an own to the host moves it out (no destructor
;; runs: the host has it), and its slot is reused
(assert_return (invoke "make" (u32.const 42)) (u32.const 1))
(assert_return (invoke "simple" (u32.const 42)))
(assert_return (invoke "give" (u32.const 42)))
(assert_return (invoke "drops") (u32.const 0))
(assert_return (invoke "make" (u32.const 43)) (u32.const 1))
(assert_return (invoke "drop"))
(assert_return (invoke "drops") (u32.const 1))
(assert_return (invoke "last-drop") (u32.const 43))

;; Imports the host does not satisfy fail to link, saying how: an item it
;; does not have at all was not found; one it has as another kind of item
;; was expected as one kind and found as another.
(assert_unlinkable
  (component (import "host" (instance (export "missing" (func)))))
  "was not found")
(assert_unlinkable
  (component (import "host" (instance (export "missing" (type (sub resource))))))
  "was not found")
(assert_unlinkable
  (component (import "host" (instance (export "return-three" (type (sub resource))))))
  "expected resource found func")
(assert_unlinkable
  (component (import "host-return-two" (instance)))
  "expected instance found func")
(assert_unlinkable
  (component (import "host" (func)))
  "expected function found instance")
;; a function of the right name but another type
(assert_unlinkable
  (component (import "host" (instance (export "return-three" (func (result u64))))))
  "return-three")
;; an empty instance import needs nothing from the host
(component (import "not-provided-by-the-host" (instance)))
