//! Running a plan in a store: core instantiation, trampolines (the core
//! functions `canon` makes), and the canonical-ABI context of each call.

use std::sync::Arc;

use super::plan::{LiftedFunc, Trampoline};
use super::resources::{HandleTable, Slot};
use super::{HostImpl, InstancePreInner};
use crate::abi::{self, AbiContext, Resource, StringEncoding, Val};
use crate::engine::{Caller, CoreVal, Engine, HostError};
use crate::error::{Error, Trap};
use crate::types::ResourceType;

/// The data of a cohost store: the embedder's `D` and the running
/// component instances.
pub struct StoreData<E: Engine, D: Send + 'static> {
    pub(crate) data: D,
    pub(crate) instances: Vec<RuntimeInstance<E, D>>,
    /// The core results of a host call are lowered into this buffer, kept
    /// from call to call so that a call allocates none.
    pub(crate) results: Vec<CoreVal>,
}

/// Canonical options resolved to this store's items.
pub(crate) struct ResolvedOptions<E: Engine> {
    pub memory: Option<E::Memory>,
    pub realloc: Option<E::Func>,
    pub post_return: Option<E::Func>,
    pub encoding: StringEncoding,
    pub instance: u32,
}

impl<E: Engine> Clone for ResolvedOptions<E> {
    fn clone(&self) -> Self {
        ResolvedOptions {
            memory: self.memory,
            realloc: self.realloc,
            post_return: self.post_return,
            encoding: self.encoding,
            instance: self.instance,
        }
    }
}

/// One instantiated component in a store.
pub(crate) struct RuntimeInstance<E: Engine, D: Send + 'static> {
    pub pre: Arc<InstancePreInner<E, D>>,
    /// Whether its trampolines are the pre's shared ones, which find this
    /// instance by the pre's id ([`instance_of`]).
    pub shared_funcs: bool,
    pub core_instances: Vec<E::Instance>,
    pub trampolines: Vec<E::Func>,
    /// The plan's options, each resolved once the core instances it names
    /// exist (see [`plan::PlanBody::resolvable_after`]).
    ///
    /// [`plan::PlanBody::resolvable_after`]: super::plan::PlanBody::resolvable_after
    pub options: Vec<Option<ResolvedOptions<E>>>,
    /// The plan's callables, resolved likewise.
    pub callables: Vec<Option<E::Func>>,
    pub tables: Vec<HandleTable>,
    /// Outstanding borrow handles of each active call scope.
    pub scopes: Vec<u32>,
    /// Which component instances a running call has entered: entering one
    /// again traps, as the component model forbids reentrance.
    pub entered: Vec<bool>,
    /// Set when a call trapped: the instance's state may be inconsistent,
    /// so, as the component model requires, it cannot be entered again.
    pub poisoned: bool,
}

type Cx<'c, E, D> = &'c mut dyn Caller<E, StoreData<E, D>>;

fn not_instantiated() -> Trap {
    Trap::host("component function called before the core instance it needs was instantiated")
}

/// The runtime instance of the pre `id` whose trampolines are the shared
/// ones: at most one per store.
pub(crate) fn instance_of<E: Engine, D: Send + 'static>(
    data: &StoreData<E, D>,
    id: u64,
) -> Result<usize, Trap> {
    data.instances
        .iter()
        .position(|i| i.shared_funcs && i.pre.id == id)
        .ok_or_else(|| Trap::host("a trampoline was called in a store without its instance"))
}

impl<E: Engine, D: Send + 'static> RuntimeInstance<E, D> {
    /// Options `i`, or a trap if the core instances they name do not exist
    /// yet (a start function calling into what is instantiated after it).
    pub fn options(&self, i: u32) -> Result<ResolvedOptions<E>, Trap> {
        self.options[i as usize]
            .clone()
            .ok_or_else(not_instantiated)
    }

    /// Callable `i`, or a trap if its core instance does not exist yet.
    pub fn callable(&self, i: u32) -> Result<E::Func, Trap> {
        self.callables[i as usize].ok_or_else(not_instantiated)
    }

    /// Enter the instances a call from `caller` into `callee` enters, or
    /// trap if one of them is already entered.
    pub fn enter(&mut self, caller: Option<u32>, callee: u32) -> Result<Vec<u32>, Trap> {
        let set = self.pre.plan.entering_set(caller, callee);
        // A function an instance lifted and lowered again, called from that
        // instance, enters the instance it runs in.
        if caller == Some(callee) || set.iter().any(|i| self.entered[*i as usize]) {
            return Err(Trap::new(
                crate::error::TrapKind::Wasm,
                "cannot enter component instance: it is already running (reentrance)",
            ));
        }
        for i in &set {
            self.entered[*i as usize] = true;
        }
        Ok(set)
    }

    /// Leave the instances [`RuntimeInstance::enter`] entered.
    pub fn leave(&mut self, set: &[u32]) {
        for i in set {
            self.entered[*i as usize] = false;
        }
    }
}

/// The canonical-ABI context of one side of a call.
pub(crate) struct CallCx<'c, E: Engine, D: Send + 'static> {
    pub caller: Cx<'c, E, D>,
    pub rt: usize,
    pub options: ResolvedOptions<E>,
    /// Handles of this side's table lent for the call, to give back at its end.
    pub lends: Vec<u32>,
    /// The borrow scope for handles lowered into this side.
    pub scope: Option<u32>,
}

impl<'c, E: Engine, D: Send + 'static> CallCx<'c, E, D> {
    pub fn new(caller: Cx<'c, E, D>, rt: usize, options: ResolvedOptions<E>) -> Self {
        CallCx {
            caller,
            rt,
            options,
            lends: Vec::new(),
            scope: None,
        }
    }

    fn runtime(&mut self) -> &mut RuntimeInstance<E, D> {
        &mut self.caller.data_mut().instances[self.rt]
    }

    fn table(&mut self) -> &mut HandleTable {
        let instance = self.options.instance as usize;
        &mut self.runtime().tables[instance]
    }

    /// Give back the handles lent for this call.
    pub fn end_lends(&mut self) {
        let lends = std::mem::take(&mut self.lends);
        let table = self.table();
        for h in lends {
            table.end_lend(h);
        }
    }

    /// Open a borrow scope for handles lowered into this side.
    pub fn open_scope(&mut self) {
        let rt = self.runtime();
        rt.scopes.push(0);
        self.scope = Some(rt.scopes.len() as u32 - 1);
    }

    /// Close the borrow scope: every borrow lowered into this side must have
    /// been dropped.
    pub fn close_scope(&mut self) -> Result<(), Trap> {
        let Some(scope) = self.scope.take() else {
            return Ok(());
        };
        let rt = self.runtime();
        let outstanding = rt.scopes.get(scope as usize).copied().unwrap_or(0);
        rt.scopes.truncate(scope as usize);
        if outstanding != 0 {
            return Err(Trap::abi(format!(
                "{outstanding} borrowed handle(s) still remain at the end of the call"
            )));
        }
        Ok(())
    }
}

impl<E: Engine, D: Send + 'static> AbiContext for CallCx<'_, E, D> {
    fn memory(&mut self) -> Result<&mut [u8], Trap> {
        let Some(memory) = self.options.memory else {
            return Err(Trap::abi(
                "a value needs linear memory, but no `memory` option was given",
            ));
        };
        Ok(self.caller.memory_and_data(memory).0)
    }

    fn realloc(
        &mut self,
        old_ptr: u32,
        old_size: u32,
        align: u32,
        new_size: u32,
    ) -> Result<u32, Trap> {
        let Some(realloc) = self.options.realloc else {
            return Err(Trap::abi(
                "a value needs allocation, but no `realloc` option was given",
            ));
        };
        let args = [
            CoreVal::I32(old_ptr as i32),
            CoreVal::I32(old_size as i32),
            CoreVal::I32(align as i32),
            CoreVal::I32(new_size as i32),
        ];
        let mut out = [CoreVal::I32(0)];
        self.caller.call(realloc, &args, &mut out)?;
        Ok(out[0].i32()? as u32)
    }

    fn string_encoding(&self) -> StringEncoding {
        self.options.encoding
    }

    fn lift_own(&mut self, ty: &ResourceType, handle: u32) -> Result<Resource, Trap> {
        let rep = self.table().take_own(handle, ty)?;
        Ok(Resource {
            ty: ty.clone(),
            rep,
        })
    }

    fn lift_borrow(&mut self, ty: &ResourceType, handle: u32) -> Result<Resource, Trap> {
        let rep = match self.table().get_mut(handle, ty)? {
            Slot::Own { rep, lends, .. } => {
                *lends += 1;
                let rep = *rep;
                self.lends.push(handle);
                rep
            }
            Slot::Borrow { rep, .. } => *rep,
            Slot::Free { .. } => unreachable!("get_mut never returns a free slot"),
        };
        Ok(Resource {
            ty: ty.clone(),
            rep,
        })
    }

    fn lower_own(&mut self, resource: &Resource) -> Result<u32, Trap> {
        self.table().insert(Slot::Own {
            ty: resource.ty.clone(),
            rep: resource.rep,
            lends: 0,
        })
    }

    fn lower_borrow(&mut self, resource: &Resource) -> Result<u32, Trap> {
        let instance = self.options.instance;
        let defined_here = self
            .runtime()
            .pre
            .plan
            .guest_resource(&resource.ty)
            .is_some_and(|r| r.instance == instance);
        if defined_here {
            return Ok(resource.rep);
        }
        let Some(scope) = self.scope else {
            return Err(Trap::host(
                "a borrow can only be lowered into a call's arguments",
            ));
        };
        let h = self.table().insert(Slot::Borrow {
            ty: resource.ty.clone(),
            rep: resource.rep,
            scope,
        })?;
        self.runtime().scopes[scope as usize] += 1;
        Ok(h)
    }
}

/// The canonical-ABI side of a host call as a typed host function sees it:
/// the guest's memory and handles, and the store's data.
pub trait HostCall<D>: AbiContext {
    /// The embedder's data.
    fn data(&mut self) -> &mut D;
}

impl<E: Engine, D: Send + 'static> HostCall<D> for CallCx<'_, E, D> {
    fn data(&mut self) -> &mut D {
        &mut self.caller.data_mut().data
    }
}

/// A host function with the dynamic API: lift to [`Val`]s, call, lower.
fn call_dynamic<D>(
    cx: &mut dyn HostCall<D>,
    ty: &crate::types::FuncType,
    f: &super::DynHostFn<D>,
    args: &[CoreVal],
    out: &mut Vec<CoreVal>,
) -> Result<(), HostError> {
    let vals = abi::lift_args(cx, ty, args)?;
    let result = f(cx.data(), &vals)?;
    let retptr = abi::retptr(ty, args)?;
    abi::lower_result(cx, ty, result.as_ref(), retptr, out)?;
    Ok(())
}

/// Run trampoline `t` of runtime instance `rt`: the body of every core
/// function a `canon` definition made.
pub(crate) fn run_trampoline<E: Engine, D: Send + 'static>(
    caller: Cx<'_, E, D>,
    rt: usize,
    t: usize,
    args: &[CoreVal],
    results: &mut [CoreVal],
) -> Result<(), HostError> {
    let pre = caller.data().instances[rt].pre.clone();
    match &pre.plan.trampolines[t] {
        Trampoline::LowerHost { import, options } => {
            let options = caller.data().instances[rt].options(*options)?;
            let import_def = &pre.plan.imports[*import as usize];
            let host = pre.host_funcs[*import as usize].clone();
            let ty = &import_def.ty;
            // Taken, not borrowed: lowering may call the guest's realloc,
            // and the guest may call the host again (which then makes a
            // buffer of its own).
            let mut out = std::mem::take(&mut caller.data_mut().results);
            out.clear();
            let mut cx = CallCx::new(caller, rt, options);
            let outcome = match &host {
                HostImpl::Dynamic(f) => call_dynamic(&mut cx, ty, f, args, &mut out),
                HostImpl::Typed(f) => f(&mut cx, args, &mut out),
            };
            cx.end_lends();
            let lowered = outcome.map(|()| results.copy_from_slice(&out));
            cx.caller.data_mut().results = out;
            match lowered {
                Ok(()) => Ok(()),
                // A suspended host function runs again with the same core
                // arguments: lends were given back above; an owned handle
                // it took cannot be, so that is a host bug.
                Err(HostError::Suspend(_))
                    if ty
                        .params()
                        .iter()
                        .any(|(_, t)| matches!(t, crate::types::Type::Own(_))) =>
                {
                    Err(Trap::host(format!(
                        "host function `{}` suspended after taking ownership of a handle",
                        import_def.name
                    ))
                    .into())
                }
                Err(e) => Err(e),
            }
        }
        Trampoline::Adapter { options, .. } => {
            let options = caller.data().instances[rt].options(*options)?;
            adapter(caller, rt, pre, t, options, args)
        }
        Trampoline::ResourceNew { ty, instance } => {
            let rep = args[0].i32()? as u32;
            let h =
                caller.data_mut().instances[rt].tables[*instance as usize].insert(Slot::Own {
                    ty: ty.clone(),
                    rep,
                    lends: 0,
                })?;
            results[0] = CoreVal::I32(h as i32);
            Ok(())
        }
        Trampoline::ResourceRep { ty, instance } => {
            let h = args[0].i32()? as u32;
            let rep =
                match caller.data_mut().instances[rt].tables[*instance as usize].get_mut(h, ty)? {
                    Slot::Own { rep, .. } | Slot::Borrow { rep, .. } => *rep,
                    Slot::Free { .. } => unreachable!(),
                };
            results[0] = CoreVal::I32(rep as i32);
            Ok(())
        }
        Trampoline::ResourceDrop { ty, instance } => {
            let h = args[0].i32()? as u32;
            drop_handle(caller, rt, &pre, ty, *instance, h).map_err(HostError::Trap)
        }
    }
}

fn drop_handle<E: Engine, D: Send + 'static>(
    caller: Cx<'_, E, D>,
    rt: usize,
    pre: &InstancePreInner<E, D>,
    ty: &ResourceType,
    instance: u32,
    h: u32,
) -> Result<(), Trap> {
    let inst = &mut caller.data_mut().instances[rt];
    let table = &mut inst.tables[instance as usize];
    if let Slot::Own { lends, .. } = table.get_mut(h, ty)?
        && *lends > 0
    {
        return Err(Trap::abi(format!(
            "cannot remove owned resource while borrowed: cannot drop handle {h}"
        )));
    }
    match table.remove(h, ty)? {
        Slot::Borrow { scope, .. } => {
            if let Some(n) = inst.scopes.get_mut(scope as usize) {
                *n = n.saturating_sub(1);
            }
            Ok(())
        }
        Slot::Own { rep, .. } => {
            if ty.is_host() {
                if let Some(dtor) = pre.host_dtors.get(ty) {
                    dtor(&mut caller.data_mut().data, rep)?;
                }
                return Ok(());
            }
            let Some(dtor) = pre.plan.guest_resource(ty).and_then(|r| r.dtor) else {
                return Ok(());
            };
            let f = caller.data().instances[rt].callable(dtor)?;
            caller.call(f, &[CoreVal::I32(rep as i32)], &mut [])
        }
        Slot::Free { .. } => unreachable!(),
    }
}

/// A component-to-component call: lift the arguments from the caller, lower
/// them into the callee, and hand the engine the call of the callee's core
/// function (which may block: the engine makes it as a call that can
/// suspend, see [`Caller::call_then`]); its continuation brings the result
/// back. Trampoline `t` of `pre` is this adapter.
fn adapter<E: Engine, D: Send + 'static>(
    caller: Cx<'_, E, D>,
    rt: usize,
    pre: Arc<InstancePreInner<E, D>>,
    t: usize,
    caller_options: ResolvedOptions<E>,
    args: &[CoreVal],
) -> Result<(), HostError> {
    let Trampoline::Adapter { callee, .. } = &pre.plan.trampolines[t] else {
        unreachable!("trampoline {t} is an adapter")
    };
    let ty = &callee.ty;
    let callee_options = caller.data().instances[rt].options(callee.options)?;
    let mut from = CallCx::new(caller, rt, caller_options.clone());
    let vals = abi::lift_args(&mut from, ty, args);
    let lends = std::mem::take(&mut from.lends);
    let caller = from.caller;
    let prepared = vals.and_then(|vals| {
        // Where the result goes in the caller's memory, read now: the
        // arguments are not kept for the continuation.
        let retptr = abi::retptr(ty, args)?;
        let entered = caller.data_mut().instances[rt]
            .enter(Some(caller_options.instance), callee_options.instance)?;
        Ok((vals, retptr, entered))
    });
    let (vals, retptr, entered) = match prepared {
        Ok(prepared) => prepared,
        Err(t) => {
            let mut back = CallCx::new(caller, rt, caller_options);
            back.lends = lends;
            back.end_lends();
            return Err(t.into());
        }
    };
    let mut to = CallCx::new(&mut *caller, rt, callee_options.clone());
    to.open_scope();
    let scope = to.scope;
    let mut flat = Vec::new();
    let lowered = abi::lower_args(&mut to, ty, &vals, &mut flat);
    let core = match lowered.and_then(|()| to.runtime().callable(callee.core)) {
        Ok(core) => core,
        Err(t) => {
            let _ = to.close_scope();
            caller.data_mut().instances[rt].leave(&entered);
            let mut back = CallCx::new(caller, rt, caller_options);
            back.lends = lends;
            back.end_lends();
            return Err(t.into());
        }
    };
    let core_results = abi::lifted_core_type(ty).results.len();
    let then: crate::engine::Continuation<E, StoreData<E, D>> =
        Box::new(move |caller, core_results, results| {
            let Trampoline::Adapter { callee, .. } = &pre.plan.trampolines[t] else {
                unreachable!("trampoline {t} is an adapter")
            };
            let ty = &callee.ty;
            let mut to = CallCx::new(&mut *caller, rt, callee_options);
            to.scope = scope;
            let outcome = abi::lift_result(&mut to, ty, core_results).and_then(|result| {
                if let Some(post) = to.options.post_return {
                    to.caller.call(post, core_results, &mut [])?;
                }
                to.close_scope()?;
                Ok(result)
            });
            caller.data_mut().instances[rt].leave(&entered);
            let mut back = CallCx::new(caller, rt, caller_options);
            back.lends = lends;
            let lowered = outcome.and_then(|result| {
                let mut out = Vec::with_capacity(results.len());
                abi::lower_result(&mut back, ty, result.as_ref(), retptr, &mut out)?;
                results.copy_from_slice(&out);
                Ok(())
            });
            back.end_lends();
            lowered
        });
    Err(caller.call_then(crate::engine::GuestCall {
        func: core,
        args: flat,
        results: core_results,
        then,
    }))
}

/// Call lifted function `func` of runtime instance `rt` from the host.
pub(crate) async fn call_lifted<E: Engine, D: Send + 'static>(
    store: &mut E::Store<StoreData<E, D>>,
    rt: usize,
    func: &LiftedFunc,
    args: &[Val],
) -> Result<Option<Val>, Error> {
    let instance = &E::data(store).instances[rt];
    if instance.poisoned {
        return Err(Trap::new(
            crate::error::TrapKind::Wasm,
            "cannot enter component instance: it trapped earlier",
        )
        .into());
    }
    let options = instance.options(func.options)?;
    let entered = E::data_mut(store).instances[rt].enter(None, options.instance)?;
    let outcome = call_entered(store, rt, func, args, options).await;
    E::data_mut(store).instances[rt].leave(&entered);
    outcome
}

async fn call_entered<E: Engine, D: Send + 'static>(
    store: &mut E::Store<StoreData<E, D>>,
    rt: usize,
    func: &LiftedFunc,
    args: &[Val],
    options: ResolvedOptions<E>,
) -> Result<Option<Val>, Error> {
    let ty = &func.ty;
    let mut flat = Vec::new();
    let core = {
        let mut caller = crate::engine::StoreCaller::<E, _>(store);
        let mut cx = CallCx::new(&mut caller, rt, options.clone());
        cx.open_scope();
        let lowered = abi::lower_args(&mut cx, ty, args, &mut flat);
        if let Err(t) = lowered {
            let _ = cx.close_scope();
            return Err(if t.kind() == crate::error::TrapKind::Host {
                Error::type_mismatch(t.message().to_string())
            } else {
                t.into()
            });
        }
        cx.runtime().callable(func.core)?
    };
    let n = abi::lifted_core_type(ty).results.len();
    let mut core_results = vec![CoreVal::I32(0); n];
    let called = E::call(store, core, &flat, &mut core_results).await;
    let lifted = called.and_then(|()| {
        let mut caller = crate::engine::StoreCaller::<E, _>(store);
        let mut cx = CallCx::new(&mut caller, rt, options.clone());
        abi::lift_result(&mut cx, ty, &core_results)
    });
    // Awaited, not called from `StoreCaller`: a post-return is guest code
    // like the export, and yields between time slices as it does.
    let outcome = match (lifted, options.post_return) {
        (Ok(result), Some(post)) => E::call_unsuspending(store, post, &core_results, &mut [])
            .await
            .map(|()| result),
        (lifted, _) => lifted,
    };
    let mut caller = crate::engine::StoreCaller::<E, _>(store);
    let mut cx = CallCx::new(&mut caller, rt, options);
    // The scope opened above is the innermost one of this instance.
    cx.scope = Some(cx.runtime().scopes.len().saturating_sub(1) as u32);
    let outcome = outcome.and_then(|result| {
        cx.close_scope()?;
        Ok(result)
    });
    if outcome.is_err() {
        let _ = cx.close_scope();
        cx.runtime().poisoned = true;
    }
    Ok(outcome?)
}
