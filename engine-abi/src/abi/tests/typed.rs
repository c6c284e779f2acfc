//! The typed API: layouts equal those of the types it claims, values agree
//! with the dynamic API in both directions, and a hand-written record.

use proptest::prelude::*;

use super::cx::TestCx;
use super::strategy::{encoding, string};
use std::sync::LazyLock;

use crate::abi::typed::{
    self, Borrow, ComponentType, Fields, HostResource, Lift, Lower, Own, StaticLayout, VariantType,
};
use crate::abi::{
    AbiContext, CANONICAL_NAN32, StringEncoding, Val, lift_args, lift_flat, load, lower_flat, store,
};
use crate::engine::{CoreType, CoreVal};
use crate::error::Trap;
use crate::types::{Enum, FuncType, List, Record, ResourceType, Type, Variant};

/// A record implemented by hand, as users of the typed API do.
#[derive(Debug, Clone, PartialEq)]
struct Header {
    name: String,
    value: Vec<u8>,
    sensitive: Option<bool>,
}

impl ComponentType for Header {
    const LAYOUT: StaticLayout =
        StaticLayout::record(&[String::LAYOUT, <Vec<u8>>::LAYOUT, <Option<bool>>::LAYOUT]);
    fn ty() -> Type {
        Type::Record(Record::new([
            ("name", String::ty()),
            ("value", <Vec<u8>>::ty()),
            ("sensitive", <Option<bool>>::ty()),
        ]))
    }
}

impl Lower for Header {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        self.name.lower_flat(cx, dst)?;
        self.value.lower_flat(cx, dst)?;
        self.sensitive.lower_flat(cx, dst)
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        let mut fields = Fields::new(ptr);
        fields.store(cx, &self.name)?;
        fields.store(cx, &self.value)?;
        fields.store(cx, &self.sensitive)
    }
}

impl Lift for Header {
    fn lift_flat<C: AbiContext + ?Sized>(
        cx: &mut C,
        src: &mut impl Iterator<Item = CoreVal>,
    ) -> Result<Self, Trap> {
        Ok(Header {
            name: String::lift_flat(cx, src)?,
            value: Vec::lift_flat(cx, src)?,
            sensitive: Option::lift_flat(cx, src)?,
        })
    }

    fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
        let mut fields = Fields::new(ptr);
        Ok(Header {
            name: fields.load(cx)?,
            value: fields.load(cx)?,
            sensitive: fields.load(cx)?,
        })
    }
}

/// `T::LAYOUT` is the layout of `T::ty()`.
fn check_layout<T: ComponentType + ?Sized>() {
    let ty = T::ty();
    let l = T::LAYOUT;
    assert_eq!(
        (l.size, l.align),
        (ty.size(), ty.align()),
        "size and align of {ty}"
    );
    assert_eq!(l.flat_count(), ty.flat().len(), "flat count of {ty}");
    if let Some(flat) = l.flat() {
        assert_eq!(flat, ty.flat(), "flattening of {ty}");
    }
}

#[test]
fn static_layouts_match_the_types() {
    check_layout::<bool>();
    check_layout::<u8>();
    check_layout::<i16>();
    check_layout::<u64>();
    check_layout::<f32>();
    check_layout::<f64>();
    check_layout::<char>();
    check_layout::<str>();
    check_layout::<String>();
    check_layout::<[u16]>();
    check_layout::<Vec<String>>();
    check_layout::<()>();
    check_layout::<(u8,)>();
    check_layout::<(u8, u64, u16)>();
    check_layout::<(f32, (u8, f64), ())>();
    check_layout::<Option<f32>>();
    check_layout::<Option<Option<u8>>>();
    check_layout::<Result<(), String>>();
    check_layout::<Result<f32, u64>>();
    check_layout::<Result<(f32, f64), (u8, u32, i64)>>();
    check_layout::<Result<Option<u8>, ()>>();
    check_layout::<Option<(f64, f32, f32, u8, i64, Vec<u8>)>>();
    check_layout::<&(u8, String)>();
    check_layout::<Header>();
    check_layout::<Vec<Header>>();
    // Past the recorded capacity, the count stays exact.
    type Wide = (u64, u64, u64, u64, u64, u64);
    check_layout::<(Wide, Wide, Wide, Wide, Wide, Wide)>();
    assert!(
        <(Wide, Wide, Wide, Wide, Wide, Wide)>::LAYOUT
            .flat()
            .is_none()
    );
    assert_eq!(
        StaticLayout::flags(40),
        StaticLayout::record(&[StaticLayout::scalar(4, CoreType::I32); 2])
    );
}

#[test]
fn results_without_payload_are_underscores() {
    assert_eq!(<Result<(), String>>::ty().to_string(), "result<_, string>");
    assert_eq!(<Result<u8, ()>>::ty().to_string(), "result<u8, _>");
}

/// Typed lower → dynamic lift → dynamic lower → typed lift, flat and in
/// memory, checking that both APIs see the same value.
fn differential<T: Lift + Lower + PartialEq + std::fmt::Debug>(v: &T, enc: StringEncoding) {
    let ty = T::ty();
    let mut cx = TestCx::new(enc);

    let mut flat = Vec::new();
    v.lower_flat(&mut cx, &mut flat).unwrap();
    assert_eq!(flat.iter().map(CoreVal::ty).collect::<Vec<_>>(), ty.flat());
    let val = lift_flat(&mut cx, &ty, &mut flat.into_iter()).unwrap();
    val.typecheck(&ty).unwrap();
    let mut flat = Vec::new();
    lower_flat(&mut cx, &ty, &val, &mut flat).unwrap();
    let back = T::lift_flat(&mut cx, &mut flat.into_iter()).unwrap();
    assert_eq!(&back, v);

    let ptr = cx.alloc(ty.align(), ty.size());
    typed::store(&mut cx, v, ptr).unwrap();
    let val2 = load(&mut cx, &ty, ptr).unwrap();
    assert_eq!(val2, val);
    let ptr2 = cx.alloc(ty.align(), ty.size());
    store(&mut cx, &ty, &val2, ptr2).unwrap();
    let back = typed::load::<T, _>(&mut cx, ptr2).unwrap();
    assert_eq!(&back, v);
}

fn header() -> impl Strategy<Value = Header> {
    (
        string(),
        proptest::collection::vec(any::<u8>(), 0..8),
        any::<Option<bool>>(),
    )
        .prop_map(|(name, value, sensitive)| Header {
            name,
            value,
            sensitive,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn typed_and_dynamic_agree_on_scalars(
        v in (any::<u8>(), any::<i16>(), any::<u32>(), any::<i64>(), any::<char>(), any::<bool>()),
        enc in encoding(),
    ) {
        differential(&v, enc);
    }

    #[test]
    fn typed_and_dynamic_agree_on_compounds(
        v in (
            proptest::option::of(string()),
            any::<Result<Vec<u8>, u16>>(),
            proptest::collection::vec((any::<char>(), -1e9f64..1e9, any::<i8>()), 0..4),
            any::<Option<Option<u32>>>(),
            any::<Result<(), u64>>(),
            -1e6f32..1e6,
        ),
        enc in encoding(),
    ) {
        differential(&v, enc);
    }

    #[test]
    fn typed_and_dynamic_agree_on_records(
        v in proptest::collection::vec(header(), 0..4),
        r in any::<Result<(f32, u8), (u64, i32)>>(),
        enc in encoding(),
    ) {
        differential(&v, enc);
        if let Ok((f, _)) = &r && f.is_nan() {
            return Ok(());
        }
        differential(&r, enc);
    }
}

#[test]
fn borrowed_str_and_bytes_lower_as_string_and_list() {
    let mut cx = TestCx::new(StringEncoding::CompactUtf16);
    let mut flat = Vec::new();
    typed::lower_args(&mut cx, &("héllo", &b"\x00\xff"[..], 'x'), &mut flat).unwrap();
    let ft = FuncType::new(
        [
            ("s", Type::String),
            ("b", Type::List(List::new(Type::U8))),
            ("c", Type::Char),
        ],
        None,
    );
    let args = lift_args(&mut cx, &ft, &flat).unwrap();
    assert_eq!(
        args,
        [
            Val::String("héllo".into()),
            Val::Bytes(vec![0, 255]),
            Val::Char('x')
        ]
    );
}

#[test]
fn typed_calls_spill_to_memory() {
    type Six = (u64, u64, u64, u64, u64, u64);
    let args: (Six, Six, Six) = (
        (1, 2, 3, 4, 5, 6),
        (7, 8, 9, 10, 11, 12),
        (13, 14, 15, 16, 17, 18),
    );
    let mut cx = TestCx::new(StringEncoding::Utf8);
    let mut flat = Vec::new();
    typed::lower_args(&mut cx, &args, &mut flat).unwrap();
    assert_eq!(cx.reallocs, [(0, 0, 8, 144)]);
    assert_eq!(flat.len(), 1);
    let back: (Six, Six, Six) = typed::lift_args(&mut cx, &flat).unwrap();
    assert_eq!(back, args);

    // A result past one flat value is stored at the guest's return pointer.
    let result: Result<String, u32> = Ok("done".into());
    let ret = cx.alloc(4, 12);
    let flat = [CoreVal::I32(0), CoreVal::I32(ret as i32)];
    assert_eq!(
        typed::retptr::<Result<String, u32>>(&flat).unwrap(),
        Some(ret)
    );
    let mut out = Vec::new();
    typed::lower_result(&mut cx, &result, Some(ret), &mut out).unwrap();
    assert!(out.is_empty());
    let back: Result<String, u32> =
        typed::lift_result(&mut cx, &[CoreVal::I32(ret as i32)]).unwrap();
    assert_eq!(back, result);

    // A single flat result is returned as is.
    let mut out = Vec::new();
    typed::lower_result(&mut cx, &7u32, None, &mut out).unwrap();
    assert_eq!(out, [CoreVal::I32(7)]);
    typed::lower_result(&mut cx, &(), None, &mut out).unwrap();
    assert_eq!(out.len(), 1);
}

#[test]
fn typed_nans_are_canonical() {
    let mut cx = TestCx::new(StringEncoding::Utf8);
    let mut flat = Vec::new();
    f32::from_bits(0xffc0_0001)
        .lower_flat(&mut cx, &mut flat)
        .unwrap();
    Some(f32::from_bits(0x7fc0_0002))
        .lower_flat(&mut cx, &mut flat)
        .unwrap();
    assert_eq!(
        flat,
        [
            CoreVal::F32(CANONICAL_NAN32),
            CoreVal::I32(1),
            CoreVal::F32(CANONICAL_NAN32)
        ]
    );
    let x = f32::lift_flat(&mut cx, &mut [CoreVal::F32(0x7f80_0003)].into_iter()).unwrap();
    assert_eq!(x.to_bits(), CANONICAL_NAN32);
}

/// A host resource type for typed handles.
struct Body;

impl HostResource for Body {
    fn resource_type() -> ResourceType {
        static TYPE: LazyLock<ResourceType> = LazyLock::new(|| ResourceType::fresh("body"));
        TYPE.clone()
    }
}

#[test]
fn typed_handles_go_through_the_handle_table() {
    check_layout::<Own<Body>>();
    check_layout::<(Borrow<Body>, Option<Own<Body>>)>();
    for enc in [StringEncoding::Utf8, StringEncoding::CompactUtf16] {
        differential(
            &(
                Own::<Body>::new(7),
                Some(Borrow::<Body>::new(8)),
                vec![Own::<Body>::new(9)],
            ),
            enc,
        );
    }

    // A handle to another resource type does not lift as a `body`.
    let mut cx = TestCx::new(StringEncoding::Utf8);
    let other = crate::abi::Resource {
        ty: ResourceType::fresh("other"),
        rep: 1,
    };
    let h = cx.give(&other);
    let err =
        <Own<Body>>::lift_flat(&mut cx, &mut [CoreVal::I32(h as i32)].into_iter()).unwrap_err();
    assert!(err.message().contains("not an own<body>"), "{err}");
}

/// A variant implemented by hand with the [`VariantType`] helpers: a case
/// without payload, and payloads whose flat types join (`f32` and `u64`
/// share a slot as `i64`, a string's pointer pair follows).
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Point,
    Circle(f32),
    Label((u64, String)),
}

impl ComponentType for Shape {
    const LAYOUT: StaticLayout =
        StaticLayout::variant(&[None, Some(f32::LAYOUT), Some(<(u64, String)>::LAYOUT)]);
    fn ty() -> Type {
        Type::Variant(Variant::new([
            ("point", None),
            ("circle", Some(f32::ty())),
            ("label", Some(<(u64, String)>::ty())),
        ]))
    }
}

impl VariantType for Shape {
    const CASES: u32 = 3;
    const NAME: &'static str = "shape";
}

impl Lower for Shape {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        match self {
            Shape::Point => typed::lower_variant_flat::<Self, _, _>(cx, 0, &(), dst),
            Shape::Circle(r) => typed::lower_variant_flat::<Self, _, _>(cx, 1, r, dst),
            Shape::Label(l) => typed::lower_variant_flat::<Self, _, _>(cx, 2, l, dst),
        }
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        match self {
            Shape::Point => typed::store_variant::<Self, _, _>(cx, 0, &(), ptr),
            Shape::Circle(r) => typed::store_variant::<Self, _, _>(cx, 1, r, ptr),
            Shape::Label(l) => typed::store_variant::<Self, _, _>(cx, 2, l, ptr),
        }
    }
}

impl Lift for Shape {
    fn lift_flat<C: AbiContext + ?Sized>(
        cx: &mut C,
        src: &mut impl Iterator<Item = CoreVal>,
    ) -> Result<Self, Trap> {
        let case = typed::lift_variant_flat::<Self, _>(src)?;
        Ok(match case.discriminant() {
            0 => case.payload::<(), _>(cx).map(|()| Shape::Point)?,
            1 => Shape::Circle(case.payload(cx)?),
            _ => Shape::Label(case.payload(cx)?),
        })
    }

    fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
        let case = typed::load_variant::<Self, _>(cx, ptr)?;
        Ok(match case.discriminant() {
            0 => Shape::Point,
            1 => Shape::Circle(case.payload(cx)?),
            _ => Shape::Label(case.payload(cx)?),
        })
    }
}

/// An enum of 300 cases: its discriminant takes two bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Wide(u32);

impl ComponentType for Wide {
    const LAYOUT: StaticLayout = StaticLayout::variant(&[None; 300]);
    fn ty() -> Type {
        Type::Enum(Enum::new(
            (0..300).map(|i| format!("c{i}")).collect::<Vec<_>>(),
        ))
    }
}

impl VariantType for Wide {
    const CASES: u32 = 300;
    const NAME: &'static str = "wide";
}

impl Lower for Wide {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        typed::lower_variant_flat::<Self, _, _>(cx, self.0, &(), dst)
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        typed::store_variant::<Self, _, _>(cx, self.0, &(), ptr)
    }
}

impl Lift for Wide {
    fn lift_flat<C: AbiContext + ?Sized>(
        cx: &mut C,
        src: &mut impl Iterator<Item = CoreVal>,
    ) -> Result<Self, Trap> {
        let case = typed::lift_variant_flat::<Self, _>(src)?;
        let disc = case.discriminant();
        case.payload::<(), _>(cx)?;
        Ok(Wide(disc))
    }

    fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
        Ok(Wide(
            typed::load_variant::<Self, _>(cx, ptr)?.discriminant(),
        ))
    }
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Point),
        (-1e6f32..1e6).prop_map(Shape::Circle),
        (any::<u64>(), string()).prop_map(Shape::Label),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn hand_written_variants_agree_with_the_dynamic_api(
        v in proptest::collection::vec(shape(), 0..4),
        alone in shape(),
        wide in (0u32..300).prop_map(Wide),
        enc in encoding(),
    ) {
        differential(&v, enc);
        differential(&alone, enc);
        differential(&(wide, Some(alone.clone())), enc);
    }
}

#[test]
fn hand_written_variant_layouts_match_the_types() {
    check_layout::<Shape>();
    check_layout::<Wide>();
    check_layout::<Option<(Shape, u8)>>();
    assert_eq!(Wide::LAYOUT.size, 2);
}

#[test]
fn hand_written_variants_check_discriminants() {
    let mut cx = TestCx::new(StringEncoding::Utf8);
    // Flat: a discriminant past the cases traps, naming the variant.
    let flat = [
        CoreVal::I32(3),
        CoreVal::I64(0),
        CoreVal::I32(0),
        CoreVal::I32(0),
    ];
    let err = Shape::lift_flat(&mut cx, &mut flat.into_iter()).unwrap_err();
    assert!(
        err.message()
            .contains("invalid variant discriminant: shape discriminant 3 out of range"),
        "{err}"
    );
    // In memory, the two bytes of a wide discriminant are both read.
    let ptr = cx.alloc(2, 2);
    cx.poke(ptr, &300u16.to_le_bytes());
    let err = typed::load::<Wide, _>(&mut cx, ptr).unwrap_err();
    assert!(
        err.message()
            .contains("invalid variant discriminant: wide discriminant 300 out of range [0..300)"),
        "{err}"
    );
    cx.poke(ptr, &299u16.to_le_bytes());
    assert_eq!(typed::load::<Wide, _>(&mut cx, ptr).unwrap(), Wide(299));
    // A host lowering a case that does not exist is a host trap.
    let err = Wide(300).lower_flat(&mut cx, &mut Vec::new()).unwrap_err();
    assert_eq!(err.kind(), crate::error::TrapKind::Host);
}
