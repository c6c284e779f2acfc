;; Big memories. The runner sets no memory limit beyond what a 32-bit
;; memory addresses (`cohost wast --memory-limit` sets one), as other
;; runners do: a guest grows its memory past `cohost serve`'s default
;; 256 MiB, strings and lists at the top of the grown memory lift, one byte
;; further they trap, and a string longer than the spec's maximum
;; (2^31 - 1 bytes) traps before any bounds check. A trap leaves an
;; instance unusable, so each runs on a fresh one, grown again.

(component definition $big
  (core module $m
    (memory (export "mem") 1)
    (func (export "grow") (param i32) (result i32)
      (memory.grow (local.get 0)))
    (func (export "size") (result i32)
      (memory.size))
    ;; (ptr, len) of a string or list, through a return area at 16
    (func (export "raw") (param i32 i32) (result i32)
      (i32.store offset=0 (i32.const 16) (local.get 0))
      (i32.store offset=4 (i32.const 16) (local.get 1))
      (i32.const 16))
    ;; the byte at `ptr`, after writing `b` there
    (func (export "poke") (param i32 i32) (result i32)
      (i32.store8 (local.get 0) (local.get 1))
      (i32.load8_u (local.get 0)))
  )
  (core instance $i (instantiate $m))
  (func (export "grow") (param "pages" u32) (result s32)
    (canon lift (core func $i "grow")))
  (func (export "size") (result u32)
    (canon lift (core func $i "size")))
  (func (export "poke") (param "ptr" u32) (param "b" u8) (result u8)
    (canon lift (core func $i "poke")))
  (func (export "string") (param "ptr" u32) (param "len" u32) (result string)
    (canon lift (core func $i "raw") (memory (core memory $i "mem"))))
  (func (export "bytes") (param "ptr" u32) (param "len" u32) (result (list u8))
    (canon lift (core func $i "raw") (memory (core memory $i "mem"))))
)

;; 1 GiB: four times `cohost serve`'s default memory limit.
(component instance $t $big)
(assert_return (invoke "grow" (u32.const 16383)) (s32.const 1))
(assert_return (invoke "size") (u32.const 16384))
(assert_return (invoke "poke" (u32.const 0x3fffffff) (u8.const 7)) (u8.const 7))
(assert_return (invoke "poke" (u32.const 0x3ffffffe) (u8.const 0x68)) (u8.const 0x68))
(assert_return (invoke "string" (u32.const 0x3ffffffe) (u32.const 2)) (str.const "h\07"))
(assert_return (invoke "bytes" (u32.const 0x3fffffff) (u32.const 1)) (list.const (u8.const 7)))
(assert_return (invoke "string" (u32.const 0x40000000) (u32.const 0)) (str.const ""))
(assert_trap (invoke "string" (u32.const 0x3ffffffe) (u32.const 3)) "string pointer/length out of bounds of memory")
(component instance $t $big)
(assert_return (invoke "grow" (u32.const 16383)) (s32.const 1))
(assert_trap (invoke "bytes" (u32.const 0x3fffffff) (u32.const 2)) "list pointer/length out of bounds of memory")
;; past the spec's maximum string length: a length trap, whatever memory
(component instance $t $big)
(assert_return (invoke "grow" (u32.const 16383)) (s32.const 1))
(assert_trap (invoke "string" (u32.const 0) (u32.const 0x80000000)) "exceeds the maximum")
