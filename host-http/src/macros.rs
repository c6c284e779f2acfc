//! Macros for the Rust side of WIT types: records that lift and lower
//! themselves ([`wit_record!`]) and host resources that live in the
//! request's [`crate::table::Table`] and cross the ABI as typed handles
//! ([`wit_resource!`]).

/// A WIT record as a Rust struct, with [`ComponentType`], [`Lower`] and
/// [`Lift`] implemented field by field in declaration order (the canonical
/// ABI's order), each field named as the WIT names it:
///
/// ```ignore
/// wit_record! {
///     /// `wasi:clocks/wall-clock.datetime`
///     pub struct Datetime {
///         pub seconds: u64 = "seconds",
///         pub nanoseconds: u32 = "nanoseconds",
///     }
/// }
/// ```
///
/// [`ComponentType`]: engine_abi::abi::ComponentType
/// [`Lower`]: engine_abi::abi::Lower
/// [`Lift`]: engine_abi::abi::Lift
macro_rules! wit_record {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty = $label:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $ty, )*
        }

        impl engine_abi::abi::ComponentType for $name {
            const LAYOUT: engine_abi::abi::StaticLayout = engine_abi::abi::StaticLayout::record(&[
                $( <$ty as engine_abi::abi::ComponentType>::LAYOUT ),*
            ]);
            fn ty() -> engine_abi::types::Type {
                engine_abi::types::Type::Record(engine_abi::types::Record::new([
                    $( ($label, <$ty as engine_abi::abi::ComponentType>::ty()) ),*
                ]))
            }
        }

        impl engine_abi::abi::Lower for $name {
            fn lower_flat<C: engine_abi::abi::AbiContext + ?Sized>(
                &self,
                cx: &mut C,
                dst: &mut Vec<engine_abi::engine::CoreVal>,
            ) -> Result<(), engine_abi::Trap> {
                $( engine_abi::abi::Lower::lower_flat(&self.$field, cx, dst)?; )*
                Ok(())
            }

            fn store<C: engine_abi::abi::AbiContext + ?Sized>(
                &self,
                cx: &mut C,
                ptr: u32,
            ) -> Result<(), engine_abi::Trap> {
                let mut fields = engine_abi::abi::typed::Fields::new(ptr);
                $( fields.store(cx, &self.$field)?; )*
                let _ = &mut fields;
                Ok(())
            }
        }

        impl engine_abi::abi::Lift for $name {
            fn lift_flat<C: engine_abi::abi::AbiContext + ?Sized>(
                cx: &mut C,
                src: &mut impl Iterator<Item = engine_abi::engine::CoreVal>,
            ) -> Result<Self, engine_abi::Trap> {
                Ok($name {
                    $( $field: <$ty as engine_abi::abi::Lift>::lift_flat(cx, src)?, )*
                })
            }

            fn load<C: engine_abi::abi::AbiContext + ?Sized>(
                cx: &mut C,
                ptr: u32,
            ) -> Result<Self, engine_abi::Trap> {
                let mut fields = engine_abi::abi::typed::Fields::new(ptr);
                let _ = &mut fields;
                Ok($name {
                    $( $field: fields.load::<$ty, C>(cx)?, )*
                })
            }
        }
    };
}

/// Make `$ty` the host side of resource `$name` of `$interface`: an entry
/// of the request's [`crate::table::Table`] (named `$name` in its traps),
/// a [`HostResource`](engine_abi::abi::typed::HostResource) for typed
/// `Own`/`Borrow` handles, and a [`crate::wit::WitResource`] its file
/// registers.
macro_rules! wit_resource {
    ($ty:ty, $interface:expr, $name:literal) => {
        impl $crate::table::Entry for $ty {
            const NAME: &'static str = $name;
        }

        impl $crate::wit::WitResource for $ty {
            const INTERFACE: &'static str = $interface;
        }

        impl engine_abi::abi::typed::HostResource for $ty {
            fn resource_type() -> engine_abi::types::ResourceType {
                static TYPE: std::sync::LazyLock<engine_abi::types::ResourceType> =
                    std::sync::LazyLock::new(|| {
                        engine_abi::types::ResourceType::host($interface, $name)
                    });
                TYPE.clone()
            }
        }
    };
}
