//! Reading a component's bytes: validation with wasmparser, and a tree of
//! the definitions of each (nested) component, in order, for the planner.

use std::ops::Range;

use wasmparser::{
    CanonicalFunction, Chunk, ComponentAlias, ComponentExternalKind, ComponentInstance,
    ComponentOuterAliasKind, ComponentType, ComponentTypeRef, ExternalKind, Instance, Parser,
    Payload, TypeRef, ValidPayload, Validator, WasmFeatures,
};

use wasmparser::types::Types;

use crate::error::{Error, Result};

/// A core module found in the component: its bytes and its imports.
pub(crate) struct ModuleDef {
    pub range: Range<usize>,
    /// `(module, name, kind)` of each import, in the module's order.
    pub imports: Vec<(String, String, ExternalKind)>,
    /// What one instance of it allocates.
    pub footprint: ModuleFootprint,
}

/// What one instance of a core module allocates: the memories and tables
/// it defines (not imports).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ModuleFootprint {
    pub memories: u32,
    pub tables: u32,
    /// The largest initial size of a table it defines.
    pub table_elements: u64,
}

/// One definition of a component, in binary order.
pub(crate) enum Item {
    /// A core module (index into [`Parsed::modules`]).
    CoreModule(usize),
    /// A nested component.
    Component(Box<ComponentDef>),
    /// A core instance.
    CoreInstance(CoreInstanceDef),
    /// A component instance.
    Instance(InstanceDef),
    /// An alias.
    Alias(AliasDef),
    /// A `canon` definition.
    Canon(CanonicalFunction),
    /// An import.
    Import { name: String, ty: ComponentTypeRef },
    /// An export: it also defines a new item in the export's index space.
    Export {
        name: String,
        kind: ComponentExternalKind,
        index: u32,
    },
    /// A component type definition. Only resource definitions matter to
    /// the planner (for their destructors); other types come from
    /// wasmparser's type information.
    Type { resource_dtor: Option<Option<u32>> },
    /// A core type definition (nothing to plan).
    CoreType,
}

pub(crate) enum CoreInstanceDef {
    Instantiate {
        module: u32,
        args: Vec<(String, u32)>,
    },
    FromExports(Vec<(String, ExternalKind, u32)>),
}

pub(crate) enum InstanceDef {
    Instantiate {
        component: u32,
        args: Vec<(String, ComponentExternalKind, u32)>,
    },
    FromExports(Vec<(String, ComponentExternalKind, u32)>),
}

pub(crate) enum AliasDef {
    InstanceExport {
        kind: ComponentExternalKind,
        instance: u32,
        name: String,
    },
    CoreInstanceExport {
        kind: ExternalKind,
        instance: u32,
        name: String,
    },
    Outer {
        kind: ComponentOuterAliasKind,
        count: u32,
        index: u32,
    },
}

/// A component's definitions and its validated type information.
pub(crate) struct ComponentDef {
    pub items: Vec<Item>,
    pub types: Option<Types>,
}

impl ComponentDef {
    pub fn types(&self) -> wasmparser::types::TypesRef<'_> {
        self.types
            .as_ref()
            .expect("type information is set when the component ends")
            .as_ref()
    }
}

/// The result of reading a component.
pub(crate) struct Parsed {
    pub root: ComponentDef,
    pub modules: Vec<ModuleDef>,
    /// The root component's `producers` section.
    pub producers: Vec<Producer>,
}

/// One entry of a `producers` custom section: what made a component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Producer {
    /// `language`, `processed-by` or `sdk`.
    pub field: String,
    /// e.g. `ComponentizeJS`, `wit-component`, `Rust`.
    pub name: String,
    /// e.g. `0.23.0` (may be empty).
    pub version: String,
}

/// The wasm features cohost accepts in components and their modules.
pub(crate) fn features() -> WasmFeatures {
    let mut f = WasmFeatures::default();
    f |= WasmFeatures::COMPONENT_MODEL
        | WasmFeatures::MULTI_MEMORY
        | WasmFeatures::EXTENDED_CONST
        | WasmFeatures::TAIL_CALL
        | WasmFeatures::SIMD
        | WasmFeatures::RELAXED_SIMD;
    f
}

enum Frame {
    Module {
        start: usize,
        end: usize,
        imports: Vec<(String, String, ExternalKind)>,
        footprint: ModuleFootprint,
    },
    Component {
        def: Box<ComponentDef>,
        end: usize,
    },
}

fn kind_of(ty: &TypeRef) -> ExternalKind {
    match ty {
        TypeRef::Func(_) | TypeRef::FuncExact(_) => ExternalKind::Func,
        TypeRef::Table(_) => ExternalKind::Table,
        TypeRef::Memory(_) => ExternalKind::Memory,
        TypeRef::Global(_) => ExternalKind::Global,
        TypeRef::Tag(_) => ExternalKind::Tag,
    }
}

fn invalid(e: wasmparser::BinaryReaderError) -> Error {
    Error::invalid(format!("invalid component: {e}"))
}

/// Validate `bytes` as a component and read its definitions.
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed> {
    const HEADER: &[u8] = b"\0asm\x0d\0\x01\0";
    if bytes.len() < HEADER.len() && HEADER.starts_with(bytes) {
        return Err(Error::invalid(
            "invalid component: unexpected end of the header (truncated)",
        ));
    }
    if !wasmparser::Parser::is_component(bytes) {
        if wasmparser::Parser::is_core_wasm(bytes) {
            return Err(Error::invalid(
                "this is a core wasm module, not a component (wrap it with `wasm-tools component new`)",
            ));
        }
        return Err(Error::invalid(
            "not a wasm component (bad magic or version)",
        ));
    }
    let mut validator = Validator::new_with_features(features());
    let mut parser = Parser::new(0);
    let mut parsers: Vec<Parser> = Vec::new();
    let mut frames: Vec<Frame> = Vec::new();
    let mut modules: Vec<ModuleDef> = Vec::new();
    let mut producers: Vec<Producer> = Vec::new();
    let mut offset = 0usize;
    // Where the next nested module or component must end: a nested parser
    // given a cut-short section ends early instead of failing.
    let mut nested_end = bytes.len();
    loop {
        let (payload, consumed) = match parser.parse(&bytes[offset..], true).map_err(invalid)? {
            Chunk::NeedMoreData(_) => return Err(Error::invalid("component is truncated")),
            Chunk::Parsed { consumed, payload } => (payload, consumed),
        };
        let payload_start = offset;
        offset += consumed;
        match validator.payload(&payload).map_err(invalid)? {
            ValidPayload::Ok | ValidPayload::Func(..) => {}
            ValidPayload::Parser(next) => {
                parsers.push(std::mem::replace(&mut parser, next));
            }
            ValidPayload::End(types) => {
                let frame = frames.pop();
                let end = match &frame {
                    Some(Frame::Module { end, .. } | Frame::Component { end, .. }) => *end,
                    None => bytes.len(),
                };
                if offset != end {
                    return Err(Error::invalid("component is truncated"));
                }
                match frame {
                    Some(Frame::Module {
                        start,
                        imports,
                        footprint,
                        ..
                    }) => {
                        modules.push(ModuleDef {
                            range: start..offset,
                            imports,
                            footprint,
                        });
                        let idx = modules.len() - 1;
                        if let Some(Frame::Component { def, .. }) = frames.last_mut() {
                            def.items.push(Item::CoreModule(idx));
                        }
                    }
                    Some(Frame::Component { def: mut c, .. }) => {
                        c.types = Some(types);
                        match frames.last_mut() {
                            Some(Frame::Component { def: parent, .. }) => {
                                parent.items.push(Item::Component(c))
                            }
                            Some(Frame::Module { .. }) => {
                                return Err(Error::invalid("component nested in a module"));
                            }
                            None => {
                                return Ok(Parsed {
                                    root: *c,
                                    modules,
                                    producers,
                                });
                            }
                        }
                    }
                    None => return Err(Error::invalid("unbalanced component structure")),
                }
                match parsers.pop() {
                    Some(p) => parser = p,
                    None => return Err(Error::invalid("unexpected end of the outermost item")),
                }
                continue;
            }
        }
        let at_root = frames.len() == 1;
        let current = frames.last_mut();
        match payload {
            Payload::Version { encoding, .. } => {
                let end = std::mem::replace(&mut nested_end, bytes.len());
                match encoding {
                    wasmparser::Encoding::Module => frames.push(Frame::Module {
                        start: payload_start,
                        end,
                        imports: Vec::new(),
                        footprint: ModuleFootprint::default(),
                    }),
                    wasmparser::Encoding::Component => frames.push(Frame::Component {
                        def: Box::new(ComponentDef {
                            items: Vec::new(),
                            types: None,
                        }),
                        end,
                    }),
                }
            }
            Payload::ImportSection(reader) => {
                if let Some(Frame::Module { imports, .. }) = current {
                    for import in reader.into_imports() {
                        let import = import.map_err(invalid)?;
                        imports.push((
                            import.module.to_string(),
                            import.name.to_string(),
                            kind_of(&import.ty),
                        ));
                    }
                }
            }
            Payload::MemorySection(reader) => {
                if let Some(Frame::Module { footprint, .. }) = current {
                    footprint.memories += reader.count();
                }
            }
            Payload::TableSection(reader) => {
                if let Some(Frame::Module { footprint, .. }) = current {
                    for table in reader {
                        let table = table.map_err(invalid)?;
                        footprint.tables += 1;
                        footprint.table_elements = footprint.table_elements.max(table.ty.initial);
                    }
                }
            }
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => nested_end = unchecked_range.end,
            // What made the component, for the host to know a toolchain's
            // quirks. Only the root's: nested modules list their compilers.
            // A malformed section is ignored, as custom sections may be.
            Payload::CustomSection(section) if at_root => {
                if let wasmparser::KnownCustom::Producers(reader) = section.as_known() {
                    for field in reader.into_iter().flatten() {
                        for value in field.values.into_iter().flatten() {
                            producers.push(Producer {
                                field: field.name.to_string(),
                                name: value.name.to_string(),
                                version: value.version.to_string(),
                            });
                        }
                    }
                }
            }
            other => {
                let Some(Frame::Component { def: c, .. }) = current else {
                    continue;
                };
                read_component_payload(c, other)?;
            }
        }
    }
}

fn read_component_payload(c: &mut ComponentDef, payload: Payload<'_>) -> Result<()> {
    match payload {
        Payload::InstanceSection(reader) => {
            for inst in reader {
                c.items
                    .push(Item::CoreInstance(match inst.map_err(invalid)? {
                        Instance::Instantiate { module_index, args } => {
                            CoreInstanceDef::Instantiate {
                                module: module_index,
                                args: args.iter().map(|a| (a.name.to_string(), a.index)).collect(),
                            }
                        }
                        Instance::FromExports(exports) => CoreInstanceDef::FromExports(
                            exports
                                .iter()
                                .map(|e| (e.name.to_string(), e.kind, e.index))
                                .collect(),
                        ),
                    }));
            }
        }
        Payload::CoreTypeSection(reader) => {
            for _ in 0..reader.count() {
                c.items.push(Item::CoreType);
            }
        }
        Payload::ComponentInstanceSection(reader) => {
            for inst in reader {
                c.items.push(Item::Instance(match inst.map_err(invalid)? {
                    ComponentInstance::Instantiate {
                        component_index,
                        args,
                    } => InstanceDef::Instantiate {
                        component: component_index,
                        args: args
                            .iter()
                            .map(|a| (a.name.to_string(), a.kind, a.index))
                            .collect(),
                    },
                    ComponentInstance::FromExports(exports) => InstanceDef::FromExports(
                        exports
                            .iter()
                            .map(|e| (e.name.name.to_string(), e.kind, e.index))
                            .collect(),
                    ),
                }));
            }
        }
        Payload::ComponentAliasSection(reader) => {
            for alias in reader {
                c.items.push(Item::Alias(match alias.map_err(invalid)? {
                    ComponentAlias::InstanceExport {
                        kind,
                        instance_index,
                        name,
                    } => AliasDef::InstanceExport {
                        kind,
                        instance: instance_index,
                        name: name.to_string(),
                    },
                    ComponentAlias::CoreInstanceExport {
                        kind,
                        instance_index,
                        name,
                    } => AliasDef::CoreInstanceExport {
                        kind,
                        instance: instance_index,
                        name: name.to_string(),
                    },
                    ComponentAlias::Outer { kind, count, index } => {
                        AliasDef::Outer { kind, count, index }
                    }
                }));
            }
        }
        Payload::ComponentTypeSection(reader) => {
            for ty in reader {
                let resource_dtor = match ty.map_err(invalid)? {
                    ComponentType::Resource { dtor, .. } => Some(dtor),
                    _ => None,
                };
                c.items.push(Item::Type { resource_dtor });
            }
        }
        Payload::ComponentCanonicalSection(reader) => {
            for canon in reader {
                c.items.push(Item::Canon(canon.map_err(invalid)?));
            }
        }
        Payload::ComponentStartSection { .. } => {
            return Err(Error::unsupported(
                "component start functions (value imports)",
            ));
        }
        Payload::ComponentImportSection(reader) => {
            for import in reader {
                let import = import.map_err(invalid)?;
                c.items.push(Item::Import {
                    name: import.name.name.to_string(),
                    ty: import.ty,
                });
            }
        }
        Payload::ComponentExportSection(reader) => {
            for export in reader {
                let export = export.map_err(invalid)?;
                c.items.push(Item::Export {
                    name: export.name.name.to_string(),
                    kind: export.kind,
                    index: export.index,
                });
            }
        }
        _ => {}
    }
    Ok(())
}
