;; Components that must be rejected: invalid types (flags beyond the spec's
;; limit of 32 labels, empty and duplicate-labelled types), canonical
;; options missing or mismatched, core signatures that do not match the
;; lifted or lowered type, bad names; malformed binaries and text; and
;; imports this host cannot satisfy (the runner defines no host functions).

;; flags: 1 to 32 labels
(component (type (flags "a")))
(component (type (flags
  "a0" "a1" "a2" "a3" "a4" "a5" "a6" "a7" "a8" "a9" "a10" "a11" "a12" "a13" "a14" "a15"
  "a16" "a17" "a18" "a19" "a20" "a21" "a22" "a23" "a24" "a25" "a26" "a27" "a28" "a29" "a30" "a31")))
(assert_invalid
  (component (type (flags
    "a0" "a1" "a2" "a3" "a4" "a5" "a6" "a7" "a8" "a9" "a10" "a11" "a12" "a13" "a14" "a15"
    "a16" "a17" "a18" "a19" "a20" "a21" "a22" "a23" "a24" "a25" "a26" "a27" "a28" "a29" "a30" "a31"
    "a32")))
  "cannot have more than 32 flags")
(assert_invalid
  (component (type (flags
    "a0" "a1" "a2" "a3" "a4" "a5" "a6" "a7" "a8" "a9" "a10" "a11" "a12" "a13" "a14" "a15"
    "a16" "a17" "a18" "a19" "a20" "a21" "a22" "a23" "a24" "a25" "a26" "a27" "a28" "a29" "a30" "a31"
    "a32" "a33" "a34" "a35" "a36" "a37" "a38" "a39" "a40" "a41" "a42" "a43" "a44" "a45" "a46" "a47"
    "a48" "a49" "a50" "a51" "a52" "a53" "a54" "a55" "a56" "a57" "a58" "a59" "a60" "a61" "a62" "a63"
    "a64")))
  "cannot have more than 32 flags")
(assert_invalid (component (type (flags))) "flags must have at least one entry")
(assert_invalid (component (type (flags "a" "a"))) "conflicts with previous")

;; other type rules
(assert_invalid (component (type (enum))) "enum type must have at least one variant")
(assert_invalid (component (type (variant))) "variant type must have at least one case")
(assert_invalid (component (type (record))) "record type must have at least one field")
(assert_invalid (component (type (tuple))) "tuple type must have at least one type")
(assert_invalid (component (type (enum "a" "a"))) "conflicts with previous")
(assert_invalid (component (type (record (field "a" u8) (field "a" u8)))) "conflicts with previous")
(assert_invalid (component (type (variant (case "a") (case "a" u8)))) "conflicts with previous")
(assert_invalid (component (type (func (param "a" u8) (param "a" u8)))) "conflicts with previous")

;; canonical options
(assert_invalid
  (component
    (core module $m (func (export "f") (param i32 i32)))
    (core instance $i (instantiate $m))
    (func (export "f") (param "s" string) (canon lift (core func $i "f"))))
  "canonical option `memory` is required")
(assert_invalid
  (component
    (core module $m (memory (export "mem") 1) (func (export "f") (param i32 i32)))
    (core instance $i (instantiate $m))
    (func (export "f") (param "s" string)
      (canon lift (core func $i "f") (memory (core memory $i "mem")))))
  "canonical option `realloc` is required")
(assert_invalid
  (component
    (core module $m (memory (export "mem") 1) (func (export "f") (result i32) (i32.const 0)))
    (core instance $i (instantiate $m))
    (func (export "f") (result string) (canon lift (core func $i "f"))))
  "canonical option `memory` is required")
(assert_invalid
  (component
    (core module $m
      (memory (export "mem") 1)
      (func (export "f") (param i32 i32))
      (func (export "realloc") (param i32 i32 i32) (result i32) (i32.const 0)))
    (core instance $i (instantiate $m))
    (func (export "f") (param "s" string)
      (canon lift (core func $i "f") (memory (core memory $i "mem")) (realloc (core func $i "realloc")))))
  "incorrect signature")
(assert_invalid
  (component
    (core module $m
      (func (export "f") (result i32) (i32.const 0))
      (func (export "post") (param i64)))
    (core instance $i (instantiate $m))
    (func (export "f") (result u32)
      (canon lift (core func $i "f") (post-return (core func $i "post")))))
  "incorrect signature")
(assert_invalid
  (component
    (core module $m (memory (export "mem") 1) (func (export "f") (param i32 i32)))
    (core instance $i (instantiate $m))
    (func (export "f") (param "s" string)
      (canon lift (core func $i "f") string-encoding=utf8 string-encoding=utf16
        (memory (core memory $i "mem")))))
  "conflicts with")

;; the core function must have the flattened signature of the lifted type
(assert_invalid
  (component
    (core module $m (func (export "f") (param i32) (result i32) (local.get 0)))
    (core instance $i (instantiate $m))
    (func (export "f") (param "x" u64) (result u64) (canon lift (core func $i "f"))))
  "do not match")
(assert_invalid
  (component
    (core module $m (func (export "f") (param i32 i32) (result i32) (local.get 0)))
    (core instance $i (instantiate $m))
    (func (export "f") (param "x" u32) (result u32) (canon lift (core func $i "f"))))
  "do not match")
(assert_invalid
  (component
    (core module $m (memory (export "mem") 1) (func (export "f") (result i32 i32) (i32.const 0) (i32.const 0)))
    (core instance $i (instantiate $m))
    (func (export "f") (result (tuple u32 u32))
      (canon lift (core func $i "f") (memory (core memory $i "mem")))))
  "do not match")
(assert_invalid
  (component
    (import "f" (func $f (param "x" u32)))
    (core func $f (canon lower (func $f)))
    (core module $m (import "" "f" (func (param i64))))
    (core instance (instantiate $m (with "" (instance (export "f" (func $f)))))))
  "type mismatch")

;; names
(assert_invalid
  (component
    (core module $m (func (export "f")))
    (core instance $i (instantiate $m))
    (func (export "Not_Kebab") (canon lift (core func $i "f"))))
  "not in kebab case")
(assert_invalid
  (component
    (core module $m (func (export "f")))
    (core instance $i (instantiate $m))
    (func (export "f") (canon lift (core func $i "f")))
    (func (export "f") (canon lift (core func $i "f"))))
  "conflicts with previous name")
;; a function whose type mentions a record must export (or import) the record
(assert_invalid
  (component
    (type $r (record (field "a" u8)))
    (core module $m (func (export "f") (param i32)))
    (core instance $i (instantiate $m))
    (func (export "f") (param "x" $r) (canon lift (core func $i "f"))))
  "func not valid to be used as export")
;; instantiation arguments must match the imports' types
(assert_invalid
  (component
    (component $c (import "f" (func (param "x" u32))))
    (core module $m (func (export "f") (param i64)))
    (core instance $i (instantiate $m))
    (func $f (param "x" u64) (canon lift (core func $i "f")))
    (instance (instantiate $c (with "f" (func $f)))))
  "type mismatch")
(assert_invalid
  (component
    (component $c (import "f" (func)))
    (instance (instantiate $c)))
  "missing import named `f`")

;; malformed binaries and text
(assert_malformed (component binary "\00asm\0d\00\01") "unexpected end")
(assert_malformed (component binary "\00asm\0d\00\01\00\ff") "malformed section id")
(assert_malformed (component binary "\00asm\0d\00\01\00\07\05\01\40\00") "unexpected end")
(assert_malformed (component quote "(core module $m (func (export \"f\")") "expected")
(assert_malformed (component quote "(func (param \"x\" not-a-type))") "expected")

;; imports the host does not provide
(assert_unlinkable
  (component (import "not-provided" (func)))
  "not-provided")
(assert_unlinkable
  (component (import "test:missing/api" (instance (export "f" (func)))))
  "test:missing/api")
(assert_unlinkable
  (component (import "missing-resource" (type (sub resource))))
  "missing-resource")

;; what no host serves from the root: a component import, an exported
;; component, an import given straight back as an export (wasmtime's words)
(assert_invalid
  (component (import "x" (component)))
  "root-level component imports are not supported")
(assert_invalid
  (component (component $c) (export "x" (component $c)))
  "exporting a component from the root component is not supported")
(assert_invalid
  (component (import "f" (func $f)) (export "f" (func $f)))
  "component export `f` is a reexport of an imported function which is not implemented")
