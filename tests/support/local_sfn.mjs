// local_sfn.mjs: run an ASL state machine definition with the independent
// interpreter aws-local-stepfunctions (3.x, JS API), every Task state handled
// by an external command.
//
// Usage:
//   node --import ./tests/support/promise_with_resolvers.mjs tests/support/local_sfn.mjs \
//     --definition FILE [--input JSON] [--execution-name NAME] \
//     [--task-timeout-seconds N] [--retry-interval-ms N] [--children DIR] \
//     [--record-payloads] -- CMD [ARG...]
//
//   --input               execution input, a JSON text (default {})
//   --execution-name      $$.Execution.Name (default local-<epoch ms>)
//   --task-timeout-seconds  sets TimeoutSeconds on every Task state that has none (the
//                         library's default is 60 s, AWS's is none); default: leave it
//   --retry-interval-ms   wait this long before every retry instead of the Retry
//                         field's backoff (retryIntervalOverrides); default: the field's
//
//   --children DIR        child state machines: DIR/<name>.asl.json for each child the
//                         definition starts with `arn:aws:states:::states:startExecution.sync:2`
//   --record-payloads     each Task's "start" event carries the payload it got ("payload")
//   CMD `@echo`           handle every Task in-process: its result is its payload (no
//                         process per task; for pipelines of thousands of tasks)
//
// A `startExecution.sync:2` state runs its child (found by the name in StateMachineArn,
// an ARN with or without a version, or a name) on the interpreter as Step Functions
// would: execution name = Parameters.Name, input = Parameters.Input, the child's own Task
// states handled as the root's. Success returns {ExecutionArn, Name, Status: "SUCCEEDED",
// Output: <JSON text>, Input}; failure fails the state with States.TaskFailed whose Cause
// is that description as JSON text with the child's Error and Cause. Its events are
// "start"/"end"/"fail" with "via": "child" and "machine": the child's name.
//
// Each Task state (also inside Parallel branches and Map iterators) gets a handler
// keyed by its state name. The handler receives the Task's input after Parameters;
// for `arn:aws:states:::lambda:invoke` that is {FunctionName, Payload} and the
// command gets Payload, for any other Resource the whole input. For
// `arn:aws:states:::ecs:runTask.sync` (an ECS task, whose container gets its event as
// environment variables) the command is CMD ARG... --event-from-env, with every
// Overrides.ContainerOverrides[].Environment {Name, Value} added to its environment and
// nothing on stdin; its success is {Containers: [{ExitCode: 0}]}. It spawns CMD ARG...
// (no shell; one process per attempt, concurrently inside Parallel states), writes
// JSON.stringify(payload) to its stdin and collects stdout/stderr; stderr is
// forwarded line by line to ours as `[STATE] line`.
//   exit 0: stdout (or else its last non-empty line) must be JSON; the Task returns
//           {StatusCode: 200, Payload: <it>} for lambda:invoke, <it> otherwise.
//   exit != 0 or signal: the Task fails with error name = stdout's `errorType` if the
//           child printed a Lambda-style error object {"errorType", "errorMessage"}
//           on stdout (names starting "States." are not taken), else "KedroNodeFailed";
//           Cause = the tail of stderr. The library matches Retry/Catch ErrorEquals
//           against that name (States.ALL and States.TaskFailed match any), so a plain
//           failure is not retried by our Lambda.* retriers and the Catch routes to the
//           Fail state; a child printing errorType "Lambda.TooManyRequestsException"
//           is retried, at most MaxAttempts times, like the service error.
//
// $$.Execution context: the library fills only Input and StartTime, ignores a
// StartTime/Input passed in its `context` option, and re-creates both for every
// Parallel branch / Map iteration (Input = the branch's input, StartTime = when the
// branch started). AWS keeps one context per execution, so the driver passes
// Execution.Name through the `context` option and, in each handler, re-resolves
// every Parameters field `"key.$": "$$.Execution..."` against the one execution
// context {Name: --execution-name, StartTime: when the driver starts the run (ISO,
// ms, Z), Input: --input}. Every value it replaced is listed in `context_fixups`.
//
// Output: ONE JSON document on stdout:
//   {"status": "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "INVALID_DEFINITION" | "DRIVER_ERROR",
//    "error": str|null, "cause": str|null,   // the Fail state's Error/Cause, or the uncaught error
//    "output": <execution output>|null,
//    "events": [{"state", "phase": "start"|"end"|"fail"|"killed", "at": ms since the
//                driver started, "seq": 0,1,2... (+ "via": "ecs" on an ECS task's start,
//                "exit", "error" on fail)}],  // by the
//                handlers; "killed": still running when the execution ended (a sibling
//                branch failed, or a timeout) and killed by the driver (Lambda runs on)
//    "context": {"Name", "StartTime", "Input"},
//    "context_fixups": [{"state", "field", "interpreter", "driver"}],
//    "trace": [{"type", "state", "Error"?, "Cause"?}],  // the interpreter's own event log
//    "driver_errors": [str]}                              // e.g. CMD could not be started
// Exit: 0 the driver worked (whatever the status), 2 usage error, 3 the interpreter or
// the driver failed (invalid definition, crash, CMD not startable); stdout still gets
// the JSON document with 3 when possible.

import './promise_with_resolvers.mjs';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';

const T0 = performance.now();
const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
const ECS_RUN_TASK = 'arn:aws:states:::ecs:runTask';
const START_EXECUTION = 'arn:aws:states:::states:startExecution';
const ECS_EVENT_FLAG = '--event-from-env';
const STDERR_TAIL_CHARS = 4000;
const STDERR_KEEP_CHARS = 65536;

function usage(message) {
  process.stderr.write(
    `local_sfn: ${message}\n` +
      'usage: node --import ./tests/support/promise_with_resolvers.mjs tests/support/local_sfn.mjs ' +
      '--definition FILE [--input JSON] [--execution-name NAME] [--task-timeout-seconds N] ' +
      '[--retry-interval-ms N] -- CMD [ARG...]\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { input: '{}', executionName: `local-${Date.now()}` };
  const sep = argv.indexOf('--');
  const own = sep === -1 ? argv : argv.slice(0, sep);
  opts.command = sep === -1 ? [] : argv.slice(sep + 1);
  const flags = {
    '--definition': 'definition',
    '--input': 'input',
    '--execution-name': 'executionName',
    '--task-timeout-seconds': 'taskTimeout',
    '--retry-interval-ms': 'retryIntervalMs',
    '--children': 'children',
    '--record-payloads': 'recordPayloads',
  };
  const switches = new Set(['--record-payloads']);
  for (let i = 0; i < own.length; i++) {
    let [flag, value] = own[i].startsWith('--') && own[i].includes('=')
      ? [own[i].slice(0, own[i].indexOf('=')), own[i].slice(own[i].indexOf('=') + 1)]
      : [own[i], undefined];
    if (flag === '-h' || flag === '--help') usage('help');
    if (!(flag in flags)) usage(`unknown argument ${JSON.stringify(own[i])}`);
    if (switches.has(flag)) {
      opts[flags[flag]] = true;
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= own.length) usage(`${flag} needs a value`);
      value = own[++i];
    }
    opts[flags[flag]] = value;
  }
  if (!opts.definition) usage('--definition is required');
  if (opts.command.length === 0) usage('the command to run for each Task is missing (after --)');
  if (!opts.executionName) usage('--execution-name must not be empty');
  try {
    opts.input = JSON.parse(opts.input);
  } catch (e) {
    usage(`--input is not JSON: ${e.message}`);
  }
  for (const [key, flag, max] of [
    ['taskTimeout', '--task-timeout-seconds', 2147483],
    ['retryIntervalMs', '--retry-interval-ms', 2147483647],
  ]) {
    if (opts[key] === undefined) continue;
    const n = Number(opts[key]);
    if (!Number.isInteger(n) || n < 0 || n > max || (key === 'taskTimeout' && n < 1)) {
      usage(`${flag} must be an integer in [${key === 'taskTimeout' ? 1 : 0}, ${max}]`);
    }
    opts[key] = n;
  }
  try {
    opts.definition = JSON.parse(readFileSync(opts.definition, 'utf8'));
  } catch (e) {
    usage(`cannot read the definition ${opts.definition}: ${e.message}`);
  }
  if (!isObject(opts.definition) || !isObject(opts.definition.States)) {
    usage('the definition has no States object');
  }
  opts.childDefinitions = new Map();
  if (opts.children !== undefined) {
    let files;
    try {
      files = readdirSync(opts.children).filter((f) => f.endsWith('.asl.json'));
    } catch (e) {
      usage(`cannot read --children ${opts.children}: ${e.message}`);
    }
    for (const file of files) {
      try {
        opts.childDefinitions.set(file.slice(0, -'.asl.json'.length), JSON.parse(readFileSync(`${opts.children}/${file}`, 'utf8')));
      } catch (e) {
        usage(`cannot read the child definition ${file}: ${e.message}`);
      }
    }
  }
  return opts;
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Every Task state, recursively (Parallel branches, Map Iterator/ItemProcessor). */
function walkStates(machine, visit) {
  for (const [name, state] of Object.entries(machine.States ?? {})) {
    visit(name, state);
    if (state.Type === 'Parallel') (state.Branches ?? []).forEach((b) => walkStates(b, visit));
    if (state.Type === 'Map') {
      const sub = state.ItemProcessor ?? state.Iterator;
      if (sub) walkStates(sub, visit);
    }
  }
}

const opts = parseArgs(process.argv.slice(2));
const definition = structuredClone(opts.definition);
// StartTime is set just before the run starts (loading the library takes ~1 s).
const context = {
  Execution: {
    Id: `arn:aws:states:local:000000000000:execution:local:${opts.executionName}`,
    Name: opts.executionName,
    StartTime: null,
    Input: opts.input,
  },
};

const tasks = new Map(); // state name -> Task state definition (root and children)
const retryable = new Set();
const children = new Map(); // child name -> its definition, Task states prepared
for (const [name, child] of opts.childDefinitions) children.set(name, structuredClone(child));
for (const machine of [definition, ...children.values()]) {
  walkStates(machine, (name, state) => {
    if (state.Retry) retryable.add(name);
    if (state.Type !== 'Task') return;
    if (tasks.has(name)) usage(`Task state name ${JSON.stringify(name)} is not unique`);
    if (opts.taskTimeout !== undefined && state.TimeoutSeconds === undefined && state.TimeoutSecondsPath === undefined) {
      state.TimeoutSeconds = opts.taskTimeout;
    }
    tasks.set(name, state);
  });
}

// ---- recording -------------------------------------------------------------------

const events = [];
const contextFixups = [];
const driverErrors = [];
const trace = [];
const running = new Map(); // child pid -> {state, child}
let seq = 0;

function record(state, phase, extra = {}) {
  const at = Math.round((performance.now() - T0) * 1000) / 1000;
  events.push({ state, phase, at, seq: seq++, ...extra });
}

// ---- $$.Execution re-resolution -----------------------------------------------------

const NO_VALUE = Symbol('no value');

function resolveExecutionPath(path) {
  const m = /^\$\$\.Execution((?:\.[A-Za-z_][A-Za-z0-9_]*)*)$/.exec(path);
  if (!m) return NO_VALUE;
  let value = context.Execution;
  for (const key of m[1].split('.').slice(1)) {
    if (!isObject(value) || !(key in value)) return NO_VALUE;
    value = value[key];
  }
  return value;
}

/** Replaces, in `resolved`, every field the template maps from `$$.Execution...`. */
function fixExecutionPaths(template, resolved, state, where) {
  if (Array.isArray(template) && Array.isArray(resolved)) {
    template.forEach((t, i) => fixExecutionPaths(t, resolved[i], state, `${where}[${i}]`));
    return;
  }
  if (!isObject(template) || !isObject(resolved)) return;
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) {
      const field = key.slice(0, -2);
      if (typeof value !== 'string' || !value.startsWith('$$.Execution')) continue;
      const want = resolveExecutionPath(value);
      if (want === NO_VALUE) continue;
      if (!isDeepStrictEqual(resolved[field], want)) {
        contextFixups.push({ state, field: where ? `${where}.${field}` : field, interpreter: resolved[field] ?? null, driver: want });
        resolved[field] = structuredClone(want);
      }
    } else {
      fixExecutionPaths(value, resolved[key], state, where ? `${where}.${key}` : key);
    }
  }
}

// ---- the Task handler ---------------------------------------------------------------

class TaskCommandError extends Error {
  constructor(name, message) {
    super(message);
    this.name = name; // what Retry/Catch ErrorEquals are matched against
  }
}

function parseJsonOutput(text) {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
    if (lines.length === 0) return { ok: false };
    try {
      return { ok: true, value: JSON.parse(lines[lines.length - 1]), skipped: lines.slice(0, -1) };
    } catch {
      return { ok: false };
    }
  }
}

/** The machine name in a StateMachineArn: an ARN (maybe with a version) or a name. */
function machineNameOf(reference) {
  const at = String(reference).indexOf(':stateMachine:');
  return at === -1 ? String(reference) : String(reference).slice(at + ':stateMachine:'.length).split(':')[0];
}

function runChild(stateName, input) {
  const name = machineNameOf(input?.StateMachineArn);
  const child = children.get(name);
  if (!child) {
    driverErrors.push(`${stateName}: no child definition ${name} (pass --children DIR)`);
    return Promise.reject(new TaskCommandError('StepFunctions.StateMachineDoesNotExistException', `no state machine ${name}`));
  }
  const executionName = String(input.Name ?? `child-${Date.now()}`);
  const description = {
    ExecutionArn: `arn:aws:states:local:000000000000:execution:${name}:${executionName}`,
    StateMachineArn: String(input.StateMachineArn),
    Name: executionName,
    Input: JSON.stringify(input.Input ?? {}),
  };
  record(stateName, 'start', { via: 'child', machine: name });
  const machine = new StateMachine(child);
  const execution = machine.run(input.Input ?? {}, {
    overrides: overridesFor(),
    context: { Execution: { Name: executionName } },
  });
  return execution.result.then(
    (output) => {
      record(stateName, 'end', { via: 'child', machine: name });
      return { ...description, Status: 'SUCCEEDED', Output: output };
    },
    (e) => {
      const cause = e instanceof ExecutionError && e.cause instanceof Error ? e.cause : e;
      record(stateName, 'fail', { via: 'child', machine: name, error: cause?.name });
      throw new TaskCommandError(
        'States.TaskFailed',
        JSON.stringify({ ...description, Status: 'FAILED', Error: cause?.name ?? 'Error', Cause: cause?.message ?? String(cause) }),
      );
    },
  );
}

function makeHandler(stateName, state) {
  if (typeof state.Resource === 'string' && state.Resource.startsWith(START_EXECUTION)) {
    return (taskInput) => {
      const input = structuredClone(taskInput);
      if (state.Parameters !== undefined) fixExecutionPaths(state.Parameters, input, stateName, '');
      return runChild(stateName, input);
    };
  }
  const isLambdaInvoke = typeof state.Resource === 'string' && state.Resource.startsWith(LAMBDA_INVOKE);
  const isEcsRunTask = typeof state.Resource === 'string' && state.Resource.startsWith(ECS_RUN_TASK);
  return (taskInput) =>
    new Promise((resolve, reject) => {
      const input = structuredClone(taskInput);
      if (state.Parameters !== undefined) fixExecutionPaths(state.Parameters, input, stateName, '');
      const payload = isLambdaInvoke && isObject(input) && 'Payload' in input ? input.Payload : input;

      const started = isEcsRunTask ? { via: 'ecs' } : {};
      if (opts.recordPayloads) started.payload = isEcsRunTask ? input?.Overrides ?? null : payload;
      record(stateName, 'start', started);
      const [cmd, ...commandArgs] = opts.command;
      if (cmd === '@echo') {
        record(stateName, 'end');
        resolve(isLambdaInvoke ? { StatusCode: 200, Payload: payload } : payload);
        return;
      }
      let args = commandArgs;
      let env = process.env;
      if (isEcsRunTask) {
        args = [...commandArgs, ECS_EVENT_FLAG];
        env = { ...process.env };
        for (const override of input?.Overrides?.ContainerOverrides ?? []) {
          for (const variable of override.Environment ?? []) {
            if (typeof variable?.Name === 'string') env[variable.Name] = String(variable.Value ?? '');
          }
        }
      }
      let child;
      try {
        child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
      } catch (e) {
        driverErrors.push(`${stateName}: cannot start ${cmd}: ${e.message}`);
        record(stateName, 'fail', { exit: null, error: 'DriverSpawnFailed' });
        reject(new TaskCommandError('DriverSpawnFailed', e.message));
        return;
      }
      let stdout = '';
      let stderr = '';
      let partial = '';
      let spawnError = null;
      const forward = (chunk) => {
        partial += chunk;
        const lines = partial.split('\n');
        partial = lines.pop();
        for (const line of lines) process.stderr.write(`[${stateName}] ${line}\n`);
      };
      child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
      child.stderr.setEncoding('utf8').on('data', (d) => {
        stderr = (stderr + d).slice(-STDERR_KEEP_CHARS);
        forward(d);
      });
      child.on('error', (e) => { spawnError = e; });
      child.stdin.on('error', () => {}); // the command need not read its stdin (EPIPE)
      child.stdin.end(isEcsRunTask ? '' : JSON.stringify(payload));
      if (child.pid !== undefined) running.set(child.pid, { state: stateName, child });

      child.on('close', (code, signal) => {
        running.delete(child.pid);
        if (partial) process.stderr.write(`[${stateName}] ${partial}\n`);
        if (spawnError) {
          driverErrors.push(`${stateName}: cannot start ${cmd}: ${spawnError.message}`);
          record(stateName, 'fail', { exit: null, error: 'DriverSpawnFailed' });
          reject(new TaskCommandError('DriverSpawnFailed', spawnError.message));
          return;
        }
        const parsed = parseJsonOutput(stdout);
        if (code === 0) {
          if (!parsed.ok) {
            record(stateName, 'fail', { exit: 0, error: 'InvalidTaskOutput' });
            reject(new TaskCommandError('InvalidTaskOutput', `stdout is not JSON: ${stdout.slice(0, 500)}`));
            return;
          }
          for (const line of parsed.skipped ?? []) process.stderr.write(`[${stateName} stdout] ${line}\n`);
          record(stateName, 'end');
          if (isEcsRunTask) resolve({ Containers: [{ ExitCode: 0 }], Result: parsed.value });
          else resolve(isLambdaInvoke ? { StatusCode: 200, Payload: parsed.value } : parsed.value);
          return;
        }
        let name = 'KedroNodeFailed';
        const errorType = parsed.ok && isObject(parsed.value) ? parsed.value.errorType : undefined;
        if (typeof errorType === 'string' && /^[\w.-]+$/.test(errorType) && !errorType.startsWith('States.')) {
          name = errorType;
        }
        let cause = stderr.trim().slice(-STDERR_TAIL_CHARS);
        if (!cause && parsed.ok && isObject(parsed.value) && typeof parsed.value.errorMessage === 'string') {
          cause = parsed.value.errorMessage;
        }
        if (!cause) cause = signal ? `killed by signal ${signal}` : `exit code ${code}`;
        record(stateName, 'fail', { exit: code ?? signal, error: name });
        reject(new TaskCommandError(name, cause));
      });
    });
}

// ---- run ----------------------------------------------------------------------------

function finish(doc, exitCode) {
  // Commands still running (a sibling branch failed, or a timeout): Lambda would finish
  // them unobserved; the driver kills them so that nothing outlives it.
  for (const [pid, { state, child }] of running) {
    running.delete(pid);
    record(state, 'killed');
    child.kill('SIGKILL');
  }
  if (driverErrors.length > 0 && exitCode === 0) exitCode = 3;
  const full = {
    status: doc.status,
    error: doc.error ?? null,
    cause: doc.cause ?? null,
    output: doc.output ?? null,
    events,
    context: context.Execution,
    context_fixups: contextFixups,
    trace,
    driver_errors: driverErrors,
  };
  process.stdout.write(JSON.stringify(full, null, 2) + '\n', () => process.exit(exitCode));
}

let handlers;
/** The interpreter's overrides: a handler per Task state, retry intervals if asked. */
function overridesFor() {
  if (!handlers) {
    handlers = {};
    for (const [name, state] of tasks) handlers[name] = makeHandler(name, state);
  }
  const overrides = { taskResourceLocalHandlers: handlers };
  if (opts.retryIntervalMs !== undefined) {
    overrides.retryIntervalOverrides = Object.fromEntries([...retryable].map((n) => [n, opts.retryIntervalMs]));
  }
  return overrides;
}

let StateMachine;
let ExecutionError;
let ExecutionTimeoutError;
try {
  ({ StateMachine, ExecutionError, ExecutionTimeoutError } = await import('aws-local-stepfunctions'));
} catch (e) {
  process.stderr.write(`local_sfn: cannot load aws-local-stepfunctions (run scripts/setup.sh): ${e.message}\n`);
  finish({ status: 'DRIVER_ERROR', error: 'ModuleNotFound', cause: e.message }, 3);
}

if (StateMachine) {
  let machine;
  try {
    machine = new StateMachine(definition);
  } catch (e) {
    process.stderr.write(`local_sfn: the interpreter rejected the definition: ${e.message}\n`);
    finish({ status: 'INVALID_DEFINITION', error: e.name, cause: e.message }, 3);
  }
  if (machine) {
    const overrides = overridesFor();
    context.Execution.StartTime = new Date().toISOString();
    try {
      const execution = machine.run(opts.input, { overrides, context: structuredClone(context) });
      const traced = (async () => {
        for await (const e of execution.eventLogs) {
          const item = { type: e.type };
          const state = e.state?.name ?? e.parentState?.name;
          if (state !== undefined) item.state = state;
          if (e.index !== undefined) item.index = e.index;
          if (e.Error !== undefined) item.Error = e.Error;
          if (e.Cause !== undefined) item.Cause = typeof e.Cause === 'string' ? e.Cause : String(e.Cause?.message ?? e.Cause);
          trace.push(item);
        }
      })().catch(() => {});
      let doc;
      try {
        doc = { status: 'SUCCEEDED', output: await execution.result };
      } catch (e) {
        if (e instanceof ExecutionTimeoutError) {
          doc = { status: 'TIMED_OUT', error: 'States.Timeout', cause: e.message };
        } else if (e instanceof ExecutionError && e.cause instanceof Error) {
          doc = { status: 'FAILED', error: e.cause.name, cause: e.cause.message };
        } else {
          throw e;
        }
      }
      await Promise.race([traced, new Promise((r) => setTimeout(r, 200))]);
      finish(doc, 0);
    } catch (e) {
      process.stderr.write(`local_sfn: the interpreter crashed: ${e?.stack ?? e}\n`);
      finish({ status: 'DRIVER_ERROR', error: e?.name ?? 'Error', cause: e?.message ?? String(e) }, 3);
    }
  }
}
