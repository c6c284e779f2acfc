;; Nested components and instances: several instances of one nested
;; component with separate state, instance exports (functions reached as
;; "interface#function" and re-exported at the root), instances made of
;; exports, instance and component imports satisfied with `with`, outer
;; aliases of types and core modules, a core module passed between
;; components, a chain of components each calling the next, reentrance
;; (allowed into a parent, a trap into a child already on the stack), and a
;; trap raised while instantiating.
;;
;; `(invoke "test:nested/api#get")` names a function inside an exported
;; instance; wasmtime's wast runner only invokes root exports.

;; two instances of one component do not share state
(component
  (component $counter
    (core module $m
      (global $n (mut i32) (i32.const 0))
      (func (export "inc") (result i32)
        (global.set $n (i32.add (global.get $n) (i32.const 1)))
        (global.get $n)))
    (core instance $i (instantiate $m))
    (func (export "inc") (result u32) (canon lift (core func $i "inc")))
  )
  (instance $a (instantiate $counter))
  (instance $b (instantiate $counter))
  (export "inc-a" (func $a "inc"))
  (export "inc-b" (func $b "inc"))
)
(assert_return (invoke "inc-a") (u32.const 1))
(assert_return (invoke "inc-a") (u32.const 2))
(assert_return (invoke "inc-b") (u32.const 1))
(assert_return (invoke "inc-a") (u32.const 3))
(assert_return (invoke "inc-b") (u32.const 2))

;; an exported instance, and its functions re-exported at the root
(component
  (component $impl
    (core module $m
      (global $v (mut i32) (i32.const 5))
      (func (export "get") (result i32) (global.get $v))
      (func (export "set") (param i32) (global.set $v (local.get 0))))
    (core instance $i (instantiate $m))
    (func $get (result u32) (canon lift (core func $i "get")))
    (func $set (param "v" u32) (canon lift (core func $i "set")))
    (instance $api (export "get" (func $get)) (export "set" (func $set)))
    (export "test:nested/api" (instance $api))
  )
  (instance $impl (instantiate $impl))
  (alias export $impl "test:nested/api" (instance $api))
  (export "test:nested/api" (instance $api))
  (alias export $api "get" (func $get))
  (export "get" (func $get))
  (export "set" (func $api "set"))
  ;; an export with a type ascription
  (export "get-again" (func $get) (func (result u32)))
)
(assert_return (invoke "get") (u32.const 5))
(assert_return (invoke "set" (u32.const 6)))
(assert_return (invoke "get") (u32.const 6))
(assert_return (invoke "get-again") (u32.const 6))
(assert_return (invoke "test:nested/api#get") (u32.const 6))
(assert_return (invoke "test:nested/api#set" (u32.const 7)))
(assert_return (invoke "get") (u32.const 7))

;; an instance import, satisfied by an exported instance and by an instance
;; made of loose exports; the importer calls through it
(component
  (component $provider
    (core module $m
      (func (export "three") (result i32) (i32.const 3))
      (func (export "four") (result i32) (i32.const 4)))
    (core instance $i (instantiate $m))
    (func $three (result u32) (canon lift (core func $i "three")))
    (func $four (result u32) (canon lift (core func $i "four")))
    (instance $api (export "num" (func $three)))
    (export "test:nested/num" (instance $api))
    (export "four" (func $four))
  )
  (component $user
    (import "test:nested/num" (instance $n (export "num" (func (result u32)))))
    (core func $num (canon lower (func $n "num")))
    (core module $m
      (import "" "num" (func $num (result i32)))
      (func (export "times-ten") (result i32) (i32.mul (call $num) (i32.const 10))))
    (core instance $i (instantiate $m (with "" (instance (export "num" (func $num))))))
    (func (export "times-ten") (result u32) (canon lift (core func $i "times-ten")))
  )
  (instance $p (instantiate $provider))
  (instance $u1 (instantiate $user (with "test:nested/num" (instance $p "test:nested/num"))))
  (instance $bag (export "num" (func $p "four")))
  (instance $u2 (instantiate $user (with "test:nested/num" (instance $bag))))
  (export "from-instance" (func $u1 "times-ten"))
  (export "from-bag" (func $u2 "times-ten"))
)
(assert_return (invoke "from-instance") (u32.const 30))
(assert_return (invoke "from-bag") (u32.const 40))

;; outer aliases of a type and of a core module
(component $outer
  (type $pair (tuple u32 u32))
  (core module $shared
    (memory (export "mem") 1)
    (func (export "pair") (param i32 i32) (result i32)
      (i32.store offset=0 (i32.const 8) (local.get 1))
      (i32.store offset=4 (i32.const 8) (local.get 0))
      (i32.const 8)))
  (component $inner
    (alias outer $outer $pair (type $pair))
    (alias outer $outer $shared (core module $shared))
    (core instance $i (instantiate $shared))
    (func (export "swap") (param "a" u32) (param "b" u32) (result $pair)
      (canon lift (core func $i "pair") (memory (core memory $i "mem"))))
  )
  (instance $x (instantiate $inner))
  (export "swap" (func $x "swap"))
)
(assert_return (invoke "swap" (u32.const 1) (u32.const 2)) (tuple.const (u32.const 2) (u32.const 1)))

;; a component import and a core module import, satisfied with `with`
(component
  (component $impl
    (core module $m (func (export "f") (result i32) (i32.const 11)))
    (core instance $i (instantiate $m))
    (func (export "f") (result u32) (canon lift (core func $i "f")))
  )
  (core module $lib (func (export "g") (result i32) (i32.const 22)))
  (component $user
    (import "c" (component $c (export "f" (func (result u32)))))
    (import "lib" (core module $lib (export "g" (func (result i32)))))
    (instance $ci (instantiate $c))
    (core instance $li (instantiate $lib))
    (export "from-component" (func $ci "f"))
    (func (export "from-module") (result u32) (canon lift (core func $li "g")))
  )
  (instance $u (instantiate $user (with "c" (component $impl)) (with "lib" (core module $lib))))
  (export "from-component" (func $u "from-component"))
  (export "from-module" (func $u "from-module"))
)
(assert_return (invoke "from-component") (u32.const 11))
(assert_return (invoke "from-module") (u32.const 22))

;; a chain: each component imports "next", calls it and adds one
(component
  (component $base
    (core module $m (func (export "zero") (result i32) (i32.const 0)))
    (core instance $i (instantiate $m))
    (func (export "zero") (result u32) (canon lift (core func $i "zero")))
  )
  (component $link
    (import "next" (func $next (result u32)))
    (core func $next (canon lower (func $next)))
    (core module $m
      (import "" "next" (func $next (result i32)))
      (func (export "call") (result i32) (i32.add (call $next) (i32.const 1))))
    (core instance $i (instantiate $m (with "" (instance (export "next" (func $next))))))
    (func (export "call") (result u32) (canon lift (core func $i "call")))
  )
  (instance $b (instantiate $base))
  (instance $l1 (instantiate $link (with "next" (func $b "zero"))))
  (instance $l2 (instantiate $link (with "next" (func $l1 "call"))))
  (instance $l3 (instantiate $link (with "next" (func $l2 "call"))))
  (instance $l4 (instantiate $link (with "next" (func $l3 "call"))))
  (instance $l5 (instantiate $link (with "next" (func $l4 "call"))))
  (export "depth-1" (func $l1 "call"))
  (export "depth-5" (func $l5 "call"))
)
(assert_return (invoke "depth-1") (u32.const 1))
(assert_return (invoke "depth-5") (u32.const 5))

;; Reentrance. Calling a component enters it and its ancestors; a call from
;; one component into another enters only the instances the caller is not
;; already in. So a parent's core code may call its child, and the child may
;; call back into the parent ("donut wrapping"); reentering the child from
;; there traps. (The spec's CanonicalABI.md, `entering_set`. wasmtime 48
;; already traps on the parent-to-child call.)
(component definition $donut
  (core module $tbl (table (export "t") 1 funcref))
  (core instance $tbl (instantiate $tbl))
  ;; M2, in the parent: `g` returns 7, or with `reenter` set calls the
  ;; child's `f` again through the table
  (core module $m2
    (import "" "t" (table 1 funcref))
    (type $ft (func (result i32)))
    (global $reenter (mut i32) (i32.const 0))
    (func (export "set-reenter") (global.set $reenter (i32.const 1)))
    (func (export "g") (result i32)
      (if (result i32) (global.get $reenter)
        (then (call_indirect (type $ft) (i32.const 0)))
        (else (i32.const 7)))))
  (core instance $m2 (instantiate $m2 (with "" (instance $tbl))))
  (func $g (result u32) (canon lift (core func $m2 "g")))
  (component $child
    (import "g" (func $g (result u32)))
    (core func $g (canon lower (func $g)))
    (core module $m
      (import "" "g" (func $g (result i32)))
      (func (export "f") (result i32) (i32.add (call $g) (i32.const 100))))
    (core instance $i (instantiate $m (with "" (instance (export "g" (func $g))))))
    (func (export "f") (result u32) (canon lift (core func $i "f")))
  )
  (instance $c (instantiate $child (with "g" (func $g))))
  (core func $f (canon lower (func $c "f")))
  (core module $fill
    (import "" "t" (table 1 funcref))
    (import "" "f" (func $f (result i32)))
    (elem (i32.const 0) func $f))
  (core instance (instantiate $fill
    (with "" (instance (export "t" (table $tbl "t")) (export "f" (func $f))))))
  ;; M1, in the parent: the host's way in
  (core module $m1
    (import "" "f" (func $f (result i32)))
    (import "" "set-reenter" (func $set-reenter))
    (func (export "run") (result i32) (call $f))
    (func (export "run-reentering") (result i32) (call $set-reenter) (call $f)))
  (core instance $m1 (instantiate $m1
    (with "" (instance (export "f" (func $f)) (export "set-reenter" (func $m2 "set-reenter"))))))
  (func (export "run") (result u32) (canon lift (core func $m1 "run")))
  (func (export "run-reentering") (result u32) (canon lift (core func $m1 "run-reentering")))
  ;; the child called directly from the host: parent and child entered
  (export "child" (func $c "f"))
)
(component instance $d1 $donut)
;; host -> parent (M1) -> child -> parent (M2): allowed
(assert_return (invoke "run") (u32.const 107))
(assert_return (invoke "run") (u32.const 107))
;; host -> child -> parent (M2): allowed
(assert_return (invoke "child") (u32.const 107))
;; host -> parent (M1) -> child -> parent (M2) -> child: reentered
(component instance $d2 $donut)
(assert_trap (invoke "run-reentering") "cannot enter component instance")

;; a core start function runs at instantiation, in dependency order
(component
  (core module $a
    (global $g (export "g") (mut i32) (i32.const 0))
    (func $start (global.set $g (i32.const 100)))
    (start $start))
  (core instance $a (instantiate $a))
  (core module $b
    (import "a" "g" (global $g (mut i32)))
    (func $start (global.set $g (i32.add (global.get $g) (i32.const 1))))
    (start $start)
    (func (export "get") (result i32) (global.get $g)))
  (core instance $b (instantiate $b (with "a" (instance $a))))
  (func (export "get") (result u32) (canon lift (core func $b "get")))
)
(assert_return (invoke "get") (u32.const 101))

;; a trap while instantiating fails the instantiation
(assert_trap
  (component
    (core module $m
      (func $start unreachable)
      (start $start))
    (core instance (instantiate $m))
  )
  "wasm `unreachable` instruction executed")
(assert_trap
  (component
    (component $inner
      (core module $m
        (memory 1)
        (func $start (drop (i32.load (i32.const 70000))))
        (start $start))
      (core instance (instantiate $m))
    )
    (instance (instantiate $inner))
  )
  "out of bounds memory access")

;; outer aliases of count 0 name the component's own index spaces: a core
;; module and a component aliased from the component itself, and one
;; reached from two levels in
(component $self
  (core module $m (func (export "f") (result i32) (i32.const 5)))
  (alias outer $self $m (core module $again))
  (core instance $i (instantiate $again))
  (func (export "from-module") (result u32) (canon lift (core func $i "f")))
  (component $c
    (core module $n (func (export "g") (result i32) (i32.const 6)))
    (core instance $j (instantiate $n))
    (func (export "g") (result u32) (canon lift (core func $j "g")))
  )
  (alias outer $self $c (component $c-again))
  (instance $ci (instantiate $c-again))
  (export "from-component" (func $ci "g"))
  (component $a
    (component $b
      (alias outer $self $m (core module $mm))
      (core instance $k (instantiate $mm))
      (func (export "f") (result u32) (canon lift (core func $k "f")))
    )
    (instance $bi (instantiate $b))
    (export "f" (func $bi "f"))
  )
  (instance $ai (instantiate $a))
  (export "two-levels" (func $ai "f"))
)
(assert_return (invoke "from-module") (u32.const 5))
(assert_return (invoke "from-component") (u32.const 6))
(assert_return (invoke "two-levels") (u32.const 5))

;; a function an instance lifts, lowered again and called from that same
;; instance (here from a start function) reenters it: a trap
(assert_trap
  (component
    (core module $m (func (export "f")))
    (core instance $m (instantiate $m))
    (func $lifted (canon lift (core func $m "f")))
    (core func $lowered (canon lower (func $lifted)))
    (core module $caller
      (import "" "f" (func $f))
      (func $start (call $f))
      (start $start))
    (core instance (instantiate $caller (with "" (instance (export "f" (func $lowered)))))))
  "cannot enter component instance")
