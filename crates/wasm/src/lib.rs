//! Custom models as WebAssembly modules, sandboxed: a module gets no imports (no files, no
//! network, no clock), at most `memory_limit_mb` of linear memory, and `timeout_ms` of wall
//! time, enforced by giving it fuel (instructions) in slices worth 2 ms of this CPU and reading
//! the clock between slices; a module that traps, runs past its time or grows its memory past
//! the limit is stopped, counted, and its input goes on unclassified.
//!
//! # The ABI (version 1)
//! A model module exports:
//! - `memory`: its linear memory;
//! - `semtrace_alloc(len: i32) -> i32`: room for `len` input bytes, returning their address;
//! - `semtrace_classify(ptr: i32, len: i32) -> i64`: reads the input, UTF-8 JSON
//!   `{"abi": 1, "kind": "error_classifier", "text": "...", "service": "...", "operation": "..."}`
//!   (fields it does not know are to be ignored), and returns `(out_ptr << 32) | out_len`: the
//!   address and length of its answer, UTF-8 JSON `{"label": "...", "score": 0.93}`. A length
//!   of 0 means "no opinion". The label is 1–64 characters of `a-z`, `0-9`, space, `_` and
//!   `-` (an error classifier's labels are the taxonomy's short names, e.g. `"connection
//!   pool exhausted"`; others are not filed); the score, if given, is from 0 to 1.
//!
//! Every call runs in a fresh instance (compiled once), so nothing a call leaves in memory, and
//! no state a trap corrupts, reaches the next one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use wasmi::{
    Config, Engine, Linker, Module, Store, StoreLimits, StoreLimitsBuilder, TrapCode, TypedFunc, TypedResumableCall,
    WasmParams, WasmResults,
};

/// What a model is given.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Input<'a> {
    pub abi: u32,
    pub kind: &'a str,
    pub text: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub service: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub operation: &'a str,
}

/// What a model answered.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Output {
    pub label: String,
    #[serde(default)]
    pub score: Option<f32>,
}

/// How a model is bounded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub memory_limit_mb: u32,
    pub timeout_ms: u64,
}

/// Why a call gave no answer, or a module could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot load the model {path}: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("the model ran past its time ({timeout_ms} ms) and was stopped")]
    Timeout { timeout_ms: u64 },
    #[error("the model needed more than its {memory_limit_mb} MiB of memory and was stopped")]
    OutOfMemory { memory_limit_mb: u32 },
    #[error("the model trapped: {0}")]
    Trap(String),
    #[error("the model's answer is not valid: {0}")]
    BadOutput(String),
}

impl ModelError {
    /// The `outcome` label of `semtrace_model_calls_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            ModelError::Load { .. } => "load_error",
            ModelError::Timeout { .. } => "timeout",
            ModelError::OutOfMemory { .. } => "out_of_memory",
            ModelError::Trap(_) => "trap",
            ModelError::BadOutput(_) => "bad_output",
        }
    }
}

/// A loaded model: compiled once, instantiated per call.
pub struct WasmModel {
    name: String,
    engine: Engine,
    module: Module,
    limits: Limits,
    fuel: u64,
    calls: AtomicU64,
}

impl std::fmt::Debug for WasmModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmModel").field("name", &self.name).field("limits", &self.limits).finish()
    }
}

/// Instructions a module may run per millisecond of `timeout_ms`, measured once per process.
fn fuel_per_ms() -> u64 {
    static FUEL_PER_MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *FUEL_PER_MS.get_or_init(|| {
        // A counting loop of known length, timed: the interpreter's speed on this CPU.
        const CALIBRATION: &str = r#"(module (func (export "run") (param i32) (result i32)
            (local i32) (loop (local.set 1 (i32.add (local.get 1) (i32.const 1)))
            (br_if 0 (i32.lt_u (local.get 1) (local.get 0)))) (local.get 1)))"#;
        let mut config = Config::default();
        config.consume_fuel(true);
        let engine = Engine::new(&config);
        let module = Module::new(&engine, CALIBRATION).expect("the calibration module is valid");
        let mut store = Store::new(&engine, ());
        store.set_fuel(u64::MAX).expect("fuel is on");
        let instance = Linker::new(&engine).instantiate_and_start(&mut store, &module).expect("no imports");
        let run = instance.get_typed_func::<i32, i32>(&store, "run").expect("exported");
        let iterations = 2_000_000;
        let started = Instant::now();
        run.call(&mut store, iterations).expect("terminates");
        let elapsed = started.elapsed().as_secs_f64().max(1e-6);
        let used = u64::MAX - store.get_fuel().expect("fuel is on");
        ((used as f64 / elapsed / 1000.0) as u64).max(1000)
    })
}

struct State {
    limits: StoreLimits,
}

/// Fuel is given in slices worth this many milliseconds; the clock is read between slices.
const SLICE_MS: u64 = 2;

impl WasmModel {
    /// Loads, validates and compiles a module (`.wasm`, or `.wat` text), and checks its exports
    /// by instantiating it once.
    pub fn load(path: &Path, limits: Limits) -> Result<WasmModel, ModelError> {
        let load_error = |reason: String| ModelError::Load { path: path.to_owned(), reason };
        let bytes = std::fs::read(path).map_err(|err| load_error(err.to_string()))?;
        let name = path.file_stem().map_or_else(|| "model".to_owned(), |stem| stem.to_string_lossy().into_owned());
        let model = WasmModel::from_bytes(&name, &bytes, limits).map_err(|err| match err {
            ModelError::Load { reason, .. } => load_error(reason),
            other => load_error(other.to_string()),
        })?;
        Ok(model)
    }

    /// [`WasmModel::load`] from bytes in memory; `name` labels its metrics.
    pub fn from_bytes(name: &str, bytes: &[u8], limits: Limits) -> Result<WasmModel, ModelError> {
        let load_error = |reason: String| ModelError::Load { path: PathBuf::from(name), reason };
        let mut config = Config::default();
        config.consume_fuel(true);
        let engine = Engine::new(&config);
        let module = Module::new(&engine, bytes).map_err(|err| load_error(err.to_string()))?;
        for (export, what) in
            [("memory", "its memory"), ("semtrace_alloc", "an allocator"), ("semtrace_classify", "a classifier")]
        {
            if module.get_export(export).is_none() {
                return Err(load_error(format!("it does not export `{export}` ({what}); see the model ABI")));
            }
        }
        let fuel = fuel_per_ms().saturating_mul(limits.timeout_ms.max(1));
        let model = WasmModel { name: name.to_owned(), engine, module, limits, fuel, calls: AtomicU64::new(0) };
        let mut store = model.store()?;
        Linker::new(&model.engine)
            .instantiate_and_start(&mut store, &model.module)
            .map_err(|err| load_error(format!("it cannot be instantiated: {err} (a model imports nothing)")))?;
        Ok(model)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn store(&self) -> Result<Store<State>, ModelError> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.memory_limit_mb as usize * (1 << 20))
            .instances(1)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(&self.engine, State { limits });
        store.limiter(|state| &mut state.limits);
        store.set_fuel(self.fuel).map_err(|err| ModelError::Trap(err.to_string()))?;
        Ok(store)
    }

    /// Runs the model on one input: `Ok(None)` when it has no opinion. Counted in
    /// `semtrace_model_calls_total{model, outcome}`.
    pub fn classify(&self, input: &Input<'_>) -> Result<Option<Output>, ModelError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let result = self.call(input);
        let outcome = match &result {
            Ok(Some(_)) => "labelled",
            Ok(None) => "no_label",
            Err(err) => err.outcome(),
        };
        metrics::counter!("semtrace_model_calls_total", "model" => self.name.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("semtrace_model_call_seconds", "model" => self.name.clone())
            .record(started.elapsed().as_secs_f64());
        if let Err(err) = &result {
            tracing::debug!(model = %self.name, %err, "a model call gave no answer");
        }
        result
    }

    fn call(&self, input: &Input<'_>) -> Result<Option<Output>, ModelError> {
        let payload = serde_json::to_vec(input).expect("inputs serialise");
        let mut store = self.store()?;
        let instance = Linker::new(&self.engine)
            .instantiate_and_start(&mut store, &self.module)
            .map_err(|err| self.stopped(err))?;
        let memory = instance.get_memory(&store, "memory").ok_or_else(|| ModelError::BadOutput("no memory".into()))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&store, "semtrace_alloc")
            .map_err(|err| ModelError::BadOutput(format!("semtrace_alloc: {err}")))?;
        let classify = instance
            .get_typed_func::<(i32, i32), i64>(&store, "semtrace_classify")
            .map_err(|err| ModelError::BadOutput(format!("semtrace_classify: {err}")))?;
        let len = i32::try_from(payload.len()).map_err(|_| ModelError::BadOutput("input too large".into()))?;
        let started = Instant::now();
        let ptr = self.run(&mut store, &alloc, len, started)?;
        memory
            .write(&mut store, ptr as u32 as usize, &payload)
            .map_err(|err| ModelError::BadOutput(format!("the input does not fit where semtrace_alloc said: {err}")))?;
        let packed = self.run(&mut store, &classify, (ptr, len), started)?;
        let (out_ptr, out_len) = ((packed as u64 >> 32) as usize, (packed as u64 & 0xffff_ffff) as usize);
        if out_len == 0 {
            return Ok(None);
        }
        let data = memory.data(&store);
        let answer = data
            .get(out_ptr..out_ptr.saturating_add(out_len))
            .ok_or_else(|| ModelError::BadOutput(format!("the answer at {out_ptr}+{out_len} is outside memory")))?;
        let output: Output = serde_json::from_slice(answer).map_err(|err| ModelError::BadOutput(err.to_string()))?;
        let label_ok = (1..=64).contains(&output.label.len())
            && output.label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b" _-".contains(&b));
        if !label_ok || output.label.trim() != output.label {
            return Err(ModelError::BadOutput(format!(
                "label {:?} is not 1-64 of a-z, 0-9, space, _, -",
                output.label
            )));
        }
        if output.score.is_some_and(|score| !(0.0..=1.0).contains(&score)) {
            return Err(ModelError::BadOutput(format!("score {:?} is not from 0 to 1", output.score)));
        }
        Ok(Some(output))
    }

    /// Calls `func` in slices of fuel worth [`SLICE_MS`] of this CPU's time, checking the clock
    /// between slices: a call is stopped once `timeout_ms` have passed since `started`, however
    /// busy the machine (a fuel budget alone runs long when other threads share the cores).
    fn run<P: WasmParams, R: WasmResults>(
        &self,
        store: &mut Store<State>,
        func: &TypedFunc<P, R>,
        params: P,
        started: Instant,
    ) -> Result<R, ModelError> {
        let timeout = std::time::Duration::from_millis(self.limits.timeout_ms);
        let slice = fuel_per_ms().saturating_mul(SLICE_MS);
        store.set_fuel(slice).map_err(|err| ModelError::Trap(err.to_string()))?;
        let mut call = func.call_resumable(&mut *store, params).map_err(|err| self.stopped(err))?;
        loop {
            match call {
                TypedResumableCall::Finished(results) => return Ok(results),
                TypedResumableCall::OutOfFuel(paused) => {
                    if started.elapsed() >= timeout {
                        return Err(ModelError::Timeout { timeout_ms: self.limits.timeout_ms });
                    }
                    store.set_fuel(slice).map_err(|err| ModelError::Trap(err.to_string()))?;
                    call = paused.resume(&mut *store).map_err(|err| self.stopped(err))?;
                }
                // A model imports nothing, so no host function can trap.
                TypedResumableCall::HostTrap(_) => return Err(ModelError::Trap("a host function trapped".into())),
            }
        }
    }

    /// What a failed instantiation or call means.
    fn stopped(&self, err: wasmi::Error) -> ModelError {
        match err.as_trap_code() {
            Some(TrapCode::OutOfFuel) => ModelError::Timeout { timeout_ms: self.limits.timeout_ms },
            Some(TrapCode::GrowthOperationLimited) => {
                ModelError::OutOfMemory { memory_limit_mb: self.limits.memory_limit_mb }
            }
            _ if err.to_string().contains("fuel") => ModelError::Timeout { timeout_ms: self.limits.timeout_ms },
            _ if err.to_string().contains("limit") || err.to_string().contains("memory") => {
                ModelError::OutOfMemory { memory_limit_mb: self.limits.memory_limit_mb }
            }
            _ => ModelError::Trap(err.to_string()),
        }
    }
}

/// A model as the pipeline uses it: answers cached by input text (`cache_size`, cleared when
/// full), and stood down for a minute after [`STAND_DOWN_AFTER`] failed calls in a row, so a
/// model that loops or traps on everything costs at most that many timeouts a minute.
pub struct GuardedModel {
    model: WasmModel,
    cache: std::sync::Mutex<std::collections::HashMap<String, Option<Output>>>,
    cache_size: usize,
    failures: std::sync::Mutex<(u32, Option<Instant>)>,
}

/// Failed calls in a row after which a model is stood down for [`STAND_DOWN`].
pub const STAND_DOWN_AFTER: u32 = 5;
pub const STAND_DOWN: std::time::Duration = std::time::Duration::from_secs(60);

impl GuardedModel {
    pub fn new(model: WasmModel, cache_size: usize) -> Self {
        GuardedModel { model, cache: Default::default(), cache_size, failures: std::sync::Mutex::new((0, None)) }
    }

    pub fn name(&self) -> &str {
        self.model.name()
    }

    /// Calls of the model so far (cached answers and stood-down skips are not calls).
    pub fn calls(&self) -> u64 {
        self.model.calls()
    }

    /// The model's answer, `None` when it has none, failed, or is stood down.
    pub fn classify(&self, input: &Input<'_>) -> Option<Output> {
        if let Some(answer) = self.cache.lock().expect("cache lock").get(input.text) {
            return answer.clone();
        }
        {
            let mut failures = self.failures.lock().expect("failures lock");
            match failures.1 {
                Some(until) if Instant::now() < until => return None,
                Some(_) => *failures = (0, None),
                None => {}
            }
        }
        match self.model.classify(input) {
            Ok(answer) => {
                self.failures.lock().expect("failures lock").0 = 0;
                let mut cache = self.cache.lock().expect("cache lock");
                if cache.len() >= self.cache_size {
                    cache.clear();
                }
                if self.cache_size > 0 {
                    cache.insert(input.text.to_owned(), answer.clone());
                }
                answer
            }
            Err(err) => {
                let mut failures = self.failures.lock().expect("failures lock");
                failures.0 += 1;
                if failures.0 >= STAND_DOWN_AFTER {
                    failures.1 = Some(Instant::now() + STAND_DOWN);
                    metrics::counter!("semtrace_model_stood_down_total", "model" => self.model.name.clone())
                        .increment(1);
                    tracing::warn!(model = %self.model.name, %err, "the model failed {} calls in a row; \
                        not called for {} s", STAND_DOWN_AFTER, STAND_DOWN.as_secs());
                }
                None
            }
        }
    }
}
