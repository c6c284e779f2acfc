;; Calls made while a component is still being instantiated: a core
;; module's start function may call resource built-ins, and may call into
;; a sibling component instance whose instantiation has finished, through
;; an adapter, with canonical options from core instances made before it.
;; (A parent calling its own child from a start function is the subject of
;; nested.wast's reentrance tests.)

;; Resource built-ins from a start function.
(component
  (type $r (resource (rep i32)))
  (core func $rep (canon resource.rep $r))
  (core func $new (canon resource.new $r))
  (core func $drop (canon resource.drop $r))
  (core module $m
    (import "" "rep" (func $rep (param i32) (result i32)))
    (import "" "new" (func $new (param i32) (result i32)))
    (import "" "drop" (func $drop (param i32)))
    (global $seen (mut i32) (i32.const 0))
    (func $start
      (local $r i32)
      (local.set $r (call $new (i32.const 100)))
      (global.set $seen (call $rep (local.get $r)))
      (call $drop (local.get $r)))
    (start $start)
    (func (export "seen") (result i32) (global.get $seen)))
  (core instance $i (instantiate $m
    (with "" (instance
      (export "rep" (func $rep))
      (export "new" (func $new))
      (export "drop" (func $drop))))))
  (func (export "seen") (result u32) (canon lift (core func $i "seen"))))
(assert_return (invoke "seen") (u32.const 100))

;; A nested component's start function calls a sibling instance made
;; before it; the string comes back into the caller's memory through its
;; realloc, both from a core instance the caller made before the one
;; whose start function calls.
(component
  (component $greeter
    (core module $m
      (memory (export "memory") 1)
      (data (i32.const 16) "hello")
      (func (export "greet") (param i32) (result i32)
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (local.get 0))
        (i32.const 0)))
    (core instance $m (instantiate $m))
    (func (export "greet") (param "n" u32) (result string)
      (canon lift (core func $m "greet") (memory $m "memory"))))
  (instance $greeter (instantiate $greeter))

  (component $user
    (import "greet" (func $greet (param "n" u32) (result string)))
    (core module $libc
      (memory (export "memory") 1)
      (global $next (mut i32) (i32.const 1024))
      (func (export "realloc") (param i32 i32 i32 i32) (result i32)
        (local $p i32)
        (local.set $p (global.get $next))
        (global.set $next (i32.add (local.get $p) (local.get 3)))
        (local.get $p)))
    (core instance $libc (instantiate $libc))
    (core func $greet (canon lower (func $greet)
      (memory $libc "memory") (realloc (func $libc "realloc"))))
    (core module $main
      (import "libc" "memory" (memory 1))
      (import "greeter" "greet" (func $greet (param i32 i32)))
      (global $len (mut i32) (i32.const -1))
      (global $first (mut i32) (i32.const -1))
      (func $start
        (call $greet (i32.const 4) (i32.const 64))
        (global.set $len (i32.load (i32.const 68)))
        (global.set $first (i32.load8_u (i32.load (i32.const 64)))))
      (start $start)
      (func (export "len") (result i32) (global.get $len))
      (func (export "first") (result i32) (global.get $first)))
    (core instance $main (instantiate $main
      (with "libc" (instance (export "memory" (memory $libc "memory"))))
      (with "greeter" (instance (export "greet" (func $greet))))))
    (func (export "len") (result u32) (canon lift (core func $main "len")))
    (func (export "first") (result u32) (canon lift (core func $main "first"))))
  (instance $user (instantiate $user (with "greet" (func $greeter "greet"))))
  (export "len" (func $user "len"))
  (export "first" (func $user "first")))
(assert_return (invoke "len") (u32.const 4))
(assert_return (invoke "first") (u32.const 104))

;; The callee instance is a sibling made by an outer component: a nested
;; component's start function calls it through an instance import.
(component
  (component $counter
    (core module $m
      (global $n (mut i32) (i32.const 0))
      (func (export "bump") (result i32)
        (global.set $n (i32.add (global.get $n) (i32.const 1)))
        (global.get $n)))
    (core instance $m (instantiate $m))
    (func (export "bump") (result u32) (canon lift (core func $m "bump"))))
  (instance $counter (instantiate $counter))

  (component $user
    (import "counter" (instance $c (export "bump" (func (result u32)))))
    (alias export $c "bump" (func $bump))
    (core func $bump (canon lower (func $bump)))
    (core module $m
      (import "" "bump" (func $bump (result i32)))
      (global $at-start (mut i32) (i32.const 0))
      (func $start (global.set $at-start (call $bump)))
      (start $start)
      (func (export "at-start") (result i32) (global.get $at-start)))
    (core instance $m (instantiate $m (with "" (instance (export "bump" (func $bump))))))
    (func (export "at-start") (result u32) (canon lift (core func $m "at-start"))))
  (instance $u1 (instantiate $user (with "counter" (instance $counter))))
  (instance $u2 (instantiate $user (with "counter" (instance $counter))))
  (export "first" (func $u1 "at-start"))
  (export "second" (func $u2 "at-start"))
  (export "bump" (func $counter "bump")))
(assert_return (invoke "first") (u32.const 1))
(assert_return (invoke "second") (u32.const 2))
(assert_return (invoke "bump") (u32.const 3))

;; A start function that calls a sibling which traps: instantiation fails
;; with the callee's trap.
(assert_trap
  (component
    (component $bad
      (core module $m (func (export "f") unreachable))
      (core instance $m (instantiate $m))
      (func (export "f") (canon lift (core func $m "f"))))
    (instance $bad (instantiate $bad))
    (component $caller
      (import "f" (func $f))
      (core func $f (canon lower (func $f)))
      (core module $main
        (import "" "f" (func $f))
        (func $start (call $f))
        (start $start))
      (core instance (instantiate $main (with "" (instance (export "f" (func $f)))))))
    (instance (instantiate $caller (with "f" (func $bad "f")))))
  "unreachable")

;; A start function that is itself the lowered import (a component-to-
;; component call with no guest code of the caller's around it), in two
;; core instances of each of two nested instances; and an export that is
;; that lowered import lifted again, called from the host.
(component
  (component $counter
    (core module $m
      (global $n (mut i32) (i32.const 0))
      (func (export "inc") (global.set $n (i32.add (global.get $n) (i32.const 1))))
      (func (export "get") (result i32) (global.get $n)))
    (core instance $m (instantiate $m))
    (func (export "inc") (canon lift (core func $m "inc")))
    (func (export "get") (result u32) (canon lift (core func $m "get"))))
  (instance $counter (instantiate $counter))
  (component $user
    (import "inc" (func $inc))
    (core func $inc (canon lower (func $inc)))
    (core module $m
      (import "" "inc" (func $inc))
      (start $inc))
    (core instance (instantiate $m (with "" (instance (export "inc" (func $inc))))))
    (core instance (instantiate $m (with "" (instance (export "inc" (func $inc))))))
    (func (export "inc-again") (canon lift (core func $inc))))
  (instance $u1 (instantiate $user (with "inc" (func $counter "inc"))))
  (instance $u2 (instantiate $user (with "inc" (func $counter "inc"))))
  (export "get" (func $counter "get"))
  (export "inc-again" (func $u1 "inc-again")))
(assert_return (invoke "get") (u32.const 4))
(assert_return (invoke "inc-again"))
(assert_return (invoke "get") (u32.const 5))
