"""Self-attention, an LSTM and 1-D convolutions, measured against Vaswani et al. 2017, Table 1.

Shape legend: B batch, n sequence length, d model width, k kernel size, L stacked layers.

For each layer kind (self-attention = `keras_tfm.layers.MultiHeadAttention`,
recurrent = `keras.layers.LSTM`, convolution = causal `keras.layers.Conv1D`,
plain and dilated) this program measures, never copies:

* FLOPs per layer, analytic (the formulas below) and counted: the sum, over the
  MatMul / BatchMatMul / Einsum / Conv2D ops of the traced `tf.function` graph
  that the outputs depend on, of 2 x multiply-adds read off the ops' static
  shapes; ops inside a `While` body are multiplied by that loop's trip count,
  read at run time from the loop's counter output. Both figures count matrix
  products only (no biases, activations or softmax).
* time per layer: median over `repeats` forward calls of the traced graph
  (more for cheap points, see `min_time_s`), after one warm-up call, as the
  process's CPU time (`time_s`, the table's "CPU time") and as wall-clock time
  (`wall_time_s`). With one TensorFlow thread the two agree on an idle machine;
  on a shared one CPU time leaves out the time other processes hold the core,
  so it is the steadier measure of the layer's own work. The dilated layer timed is the widest one of its
  stack (dilation k^(L-1)); dilation does not change its cost.
* sequential steps: the trip counts of the graph's `While` loops, summed
  (a graph without a loop is one parallel step, counted as 1).
* maximum path length: the fewest stacked operations for which the output at
  position n-1 depends on the input at position 0 (the causal direction, in
  which all three can connect the two furthest positions), found by forward-mode
  gradient reachability: a tangent on input 0 is pushed through layer after
  layer (`tf.autodiff.ForwardAccumulator`) and, after each layer, the set of
  positions with a nonzero derivative becomes the next tangent. For the LSTM
  one "layer" is one recurrent step, written in Jacobi form: step l computes
  every position's state from its predecessor's state of step l-1, so after n
  steps it equals `keras.layers.LSTM` exactly (a test checks this). The
  convolutions are causal and linear (the plain stack reuses one layer's
  weights; connectivity, not weight values, decides which derivatives are
  nonzero), and their activations are rescaled after each layer, which a
  linear layer's Jacobian does not depend on; a non-finite derivative is an
  error, never counted as a dependency.

Analytic FLOPs (per layer and example; times B): attention 8 n d^2 (Q, K, V
and output projections) + 4 n^2 d (scores and weighted sum), of which Table 1
keeps only the n^2 d term; LSTM 16 n d^2 (four gates, input and recurrent
kernels); convolution 2 k n d^2.

Timing choices. The program runs TensorFlow on one thread (`--threads`): time is
then proportional to work rather than to how well each op splits across cores
(small ops stay on one core, large ones use both, which bends the curves), and
the run leaves the other core to whoever shares the machine. B = 4, so the
smallest points are not all per-call overhead (about 0.5 ms). Exponents are
least-squares slopes in log-log over the upper half of each sweep (n >= 512,
d >= 256 at full size); fits over all points are in the JSON. n is swept at
d = 64 (small, so attention's n^2 d term dominates) and d at n = 4096 (long,
for the same reason): there the full attention layer's own formula has a
d-exponent of ~1.2, not Table 1's 1, because the projections' n d^2 is not
negligible; the "analytic FLOPs" column shows what the formulas predict on the
same grid. No lengths are capped: the LSTM runs every n and d, and is the
slowest part (at d = 1024 its 32 MB of weights are streamed from memory at
every one of the 4096 steps).

Command (full size: 95 s of measuring on one core of a shared 2-core machine,
about 4 minutes when the other core is busy too; `--tiny` takes seconds):
    python -m pipelines.compare --output_dir outputs/compare
Expected (measured so): attention's time exponent in n 1.85 (its formula's
1.91 on that grid), LSTM and convolutions ~1 in n; LSTM sequential steps = n =
path length; plain convolution path ceil((n-1)/(k-1)) = 2048 and dilated
ceil(log_k n) = 8 at n = 4096; `comparison.png` and `comparison.json` in the
output folder.
"""

import dataclasses
import functools
import json
import math
import os
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from keras_tfm.layers import MultiHeadAttention
from pipelines import pictures

ATTENTION = "self-attention"
RNN = "recurrent (LSTM)"
CONV = "convolution"
DILATED = "dilated convolution"
KINDS = (ATTENTION, RNN, CONV, DILATED)


@dataclasses.dataclass(frozen=True)
class CompareConfig:
    lengths: tuple = (64, 128, 256, 512, 1024, 2048, 4096)  # n, swept at d = fixed_width
    widths: tuple = (64, 128, 256, 512, 1024)  # d, swept at n = fixed_length
    fixed_width: int = 64  # d of the n sweep; small so attention's n^2 d term dominates
    fixed_length: int = 4096  # n of the d sweep; long, so attention's n^2 d term dominates
    kernel_size: int = 3  # k of both convolutions
    num_heads: int = 1  # attention heads; key_dim = d / num_heads
    batch_size: int = 4  # B: enough that the smallest points are not all call overhead
    repeats: int = 3  # timed forward calls per point at least; the median is kept
    min_time_s: float = 0.25  # cheap points are called until their times add up to this (100 calls at most)
    threads: int = 1  # TensorFlow intra- and inter-op threads, set by `main` (0: TensorFlow's default)
    path_width: int = 4  # d of the stacks used for path lengths (cost is irrelevant there)
    seed: int = 0


TINY = CompareConfig(lengths=(8, 16, 32), widths=(8, 16), fixed_width=8, fixed_length=16, batch_size=1, repeats=1,
                     min_time_s=0.0)


# Theory ----------------------------------------------------------------------

def dilated_depth(n, k):
    """ceil(log_k n) in integers: the fewest L with k^L >= n."""
    depth = 0
    while k**depth < n:
        depth += 1
    return depth


def theoretical_path_length(kind, n, k):
    return {ATTENTION: 1, RNN: n, CONV: math.ceil((n - 1) / (k - 1)), DILATED: dilated_depth(n, k)}[kind]


def analytic_flops(kind, n, d, k, batch_size=1):
    """Matrix-product FLOPs (2 per multiply-add) of one layer."""
    per_example = {
        ATTENTION: 8 * n * d * d + 4 * n * n * d,
        RNN: 16 * n * d * d,
        CONV: 2 * k * n * d * d,
        DILATED: 2 * k * n * d * d,
    }[kind]
    return batch_size * per_example


# Layers ----------------------------------------------------------------------

def make_layer(kind, n, d, config):
    """The layer timed and counted at length n and width d, built for (B, n, d)."""
    k = config.kernel_size
    if kind == ATTENTION:
        if d % config.num_heads:
            raise ValueError(f"`d` must be divisible by `num_heads`. Received: d={d}, num_heads={config.num_heads}")
        layer = MultiHeadAttention(num_heads=config.num_heads, key_dim=d // config.num_heads)
    elif kind == RNN:
        layer = keras.layers.LSTM(d, return_sequences=True)
    elif kind == CONV:
        layer = keras.layers.Conv1D(d, k, padding="causal")
    elif kind == DILATED:
        layer = keras.layers.Conv1D(d, k, padding="causal", dilation_rate=k ** (dilated_depth(n, k) - 1))
    else:
        raise ValueError(f"`kind` must be one of {KINDS}. Received: kind={kind!r}")
    layer.build((config.batch_size, n, d))
    return layer


# Counting --------------------------------------------------------------------

LOOP_OPS = ("While", "StatelessWhile")


def _ancestors(graph_outputs):
    """Ops that the given tensors depend on (dead code is pruned at run time)."""
    seen, stack = set(), [t.op for t in graph_outputs]
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return seen


def _op_flops(op):
    if not op.outputs:
        return 0
    out = op.outputs[0].shape
    if op.type == "MatMul":
        a = op.inputs[0].shape
        return 2 * out.num_elements() * (a[0] if op.get_attr("transpose_a") else a[1])
    if op.type.startswith("BatchMatMul"):
        a = op.inputs[0].shape
        return 2 * out.num_elements() * (a[-2] if op.get_attr("adj_x") else a[-1])
    if op.type == "Einsum":  # two operands, no ellipsis: 2 x product of every index size
        if len(op.inputs) != 2:
            return 0  # one operand: a transpose or a sum, not a product
        terms = op.get_attr("equation").decode().split("->")[0].split(",")
        sizes = {}
        for term, tensor in zip(terms, op.inputs):
            sizes.update(zip(term, tensor.shape))
        return 2 * math.prod(sizes.values())
    if op.type == "Conv2D":
        kh, kw, cin, _ = op.inputs[1].shape
        return 2 * out.num_elements() * kh * kw * cin
    return 0


def count_flops(graph, outputs, trip_counts=None):
    """Counted matrix-product FLOPs of `graph` needed for `outputs`.

    `trip_counts` maps a `While` op's name to its measured iteration count.
    """
    trip_counts = trip_counts or {}
    total = 0
    needed = _ancestors(outputs)
    for op in graph.get_operations():
        if op.name not in needed:
            continue
        if op.type in LOOP_OPS:
            if op.name not in trip_counts:
                raise ValueError(f"No trip count measured for loop {op.name!r} (nested loops are not counted).")
            body = graph._functions[op.get_attr("body").name].graph  # noqa: SLF001 (the loop's body graph)
            total += trip_counts[op.name] * count_flops(body, body.outputs)
        else:
            total += _op_flops(op)
    return total


def measure_layer(kind, n, d, config):
    """Time, counted and analytic FLOPs and sequential steps of one layer."""
    layer = make_layer(kind, n, d, config)
    loops = []

    def forward(x):
        y = layer(x)
        loops[:] = [op for op in tf.compat.v1.get_default_graph().get_operations() if op.type in LOOP_OPS]
        return y, [op.outputs[0] for op in loops]  # output 0 of a While op is its iteration counter

    x = tf.random.stateless_normal((config.batch_size, n, d), seed=(config.seed, n + d))
    concrete = tf.function(forward, autograph=False).get_concrete_function(tf.TensorSpec(x.shape))
    y, trips = concrete(x)  # warm-up call
    trip_counts = {op.name: int(t) for op, t in zip(loops, trips)}
    walls, cpus = [], []  # at least `repeats` calls; cheap ones until they add up to `min_time_s`
    while len(walls) < config.repeats or (sum(walls) < config.min_time_s and len(walls) < 100):
        wall, cpu = time.perf_counter(), time.process_time()
        y, _ = concrete(x)
        y.numpy()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    y_tensor = concrete.graph.outputs[0]
    return dict(
        n=n, d=d,
        time_s=statistics.median(cpus),
        wall_time_s=statistics.median(walls),
        flops_analytic=analytic_flops(kind, n, d, config.kernel_size, config.batch_size),
        flops_counted=count_flops(concrete.graph, [y_tensor], trip_counts),
        sequential_steps=max(1, sum(trip_counts.values())),
    )


# Path length -----------------------------------------------------------------

def stacked_operations(kind, n, config):
    """(initial state, layer(l)) where layer(l)(x, state) -> state is the l-th stacked operation.

    Stacks start from state (x,) and ignore x afterwards; the LSTM starts from
    zero (h, c) and reads x at every step, as a recurrence does.
    """
    w, k = config.path_width, config.kernel_size
    x_shape = (1, n, w)
    if kind == RNN:
        cell = keras.layers.LSTMCell(w)
        cell.build((n, w))
        zeros, step = tf.zeros(x_shape), functools.partial(lstm_jacobi_step, cell)
        return (zeros, zeros), lambda l: step
    if kind == ATTENTION:
        layer = MultiHeadAttention(num_heads=1, key_dim=w)
    elif kind == CONV:
        layer = keras.layers.Conv1D(w, k, padding="causal", use_bias=False)
    elif kind == DILATED:
        layers = {}

        def dilated(l):  # dilation k^(l-1) at layer l
            if l not in layers:
                layers[l] = keras.layers.Conv1D(w, k, padding="causal", dilation_rate=k ** (l - 1), use_bias=False)
                layers[l].build(x_shape)
                layers[l].step = lambda x, state, layer=layers[l]: (layer(state[0]),)
            return layers[l].step

        return None, dilated
    else:
        raise ValueError(f"`kind` must be one of {KINDS}. Received: kind={kind!r}")
    layer.build(x_shape)
    step = lambda x, state: (layer(state[0]),)  # noqa: E731 (one object: traced once)
    return None, lambda l: step


def lstm_jacobi_step(cell, x, state):
    """(h_t, c_t) <- cell(x_t, h_{t-1}, c_{t-1}) for all t at once, from the previous step's states."""
    shape = tf.shape(state[0])  # (B, n, d)
    shifted = [tf.pad(s[:, :-1], [[0, 0], [1, 0], [0, 0]]) for s in state]  # state of position t-1
    flat = lambda t: tf.reshape(t, (shape[0] * shape[1], t.shape[-1]))  # noqa: E731
    h, (_, c) = cell(flat(x), [flat(s) for s in shifted])
    return tf.reshape(h, shape), tf.reshape(c, shape)


@functools.partial(tf.function, autograph=False, reduce_retracing=True)
def _advance(step, x, x_tangent, state, state_tangent):
    """One operation with a forward-mode tangent: the new state, the positions (1, n) it reached, and
    whether every derivative is finite."""
    with tf.autodiff.ForwardAccumulator([x, *state], [x_tangent, *state_tangent]) as acc:
        state = step(x, state)
    jvps = [acc.jvp(s, unconnected_gradients="zero") for s in state]
    reached = tf.reduce_any(tf.stack([tf.reduce_any(j != 0, axis=-1) for j in jvps]), axis=0)
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(j)) for j in jvps])
    return state, reached, finite


def path_length(kind, n, config, max_layers=None):
    """Fewest stacked operations after which output n-1 depends on input 0 (gradient reachability)."""
    max_layers = max_layers or n + 1
    initial, layer = stacked_operations(kind, n, config)
    x = tf.random.stateless_normal((1, n, config.path_width), seed=(config.seed, n))
    x_tangent = tf.one_hot(tf.zeros((1, config.path_width), "int32"), n, axis=1)  # (1, n, d): input 0 only
    state = (tf.identity(x),) if initial is None else initial  # a copy: one primal may not appear twice
    state_tangent = tuple(x_tangent if initial is None else tf.zeros_like(s) for s in state)
    # The dilated stack has a new layer (and few of them) at every step: run it eagerly, not retraced.
    advance = _advance.python_function if kind == DILATED else _advance
    for layer_count in range(1, max_layers + 1):
        state, reached, finite = advance(layer(layer_count), x, x_tangent, state, state_tangent)
        if not bool(finite):
            raise RuntimeError(f"{kind}: a non-finite derivative after {layer_count} operations (n={n}).")
        if bool(reached[0, n - 1]):
            return layer_count
        if initial is None:  # A linear stack's activations grow or shrink without bound; its Jacobian does not
            state = tuple(s / (tf.reduce_max(tf.abs(s)) + 1e-30) for s in state)  # depend on them: rescale.
        # The positions reached so far carry the tangent into the next operation.
        state_tangent = tuple(tf.broadcast_to(tf.cast(reached, s.dtype)[..., None], s.shape) for s in state)
    raise RuntimeError(f"{kind}: position {n - 1} not reached from position 0 in {max_layers} operations.")


# Fits, table, plot -------------------------------------------------------------

def fit_exponent(xs, ys, upper_half=True):
    """Least-squares slope of log y on log x (over the upper half of x when asked)."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    if upper_half and len(xs) > 2:
        keep = xs >= np.sort(xs)[(len(xs) - 1) // 2]
        xs, ys = xs[keep], ys[keep]
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


QUANTITIES = (  # (table row, fit key): cost rows read three fits, the others one
    ("per-layer cost in n", "in_n"), ("per-layer cost in d", "in_d"),
    ("sequential operations in n", "sequential_steps_in_n"), ("maximum path length in n", "path_length_in_n"),
)
TABLE_1 = {  # Vaswani et al. 2017, Table 1, as (order, exponent) per row of QUANTITIES
    ATTENTION: (("O(n^2 d)", 2), ("O(n^2 d)", 1), ("O(1)", 0), ("O(1)", 0)),
    RNN: (("O(n d^2)", 1), ("O(n d^2)", 2), ("O(n)", 1), ("O(n)", 1)),
    CONV: (("O(k n d^2)", 1), ("O(k n d^2)", 2), ("O(1)", 0), ("O(n/k)", 1)),  # contiguous kernels: section 4
    DILATED: (("O(k n d^2)", 1), ("O(k n d^2)", 2), ("O(1)", 0), ("O(log_k n)", "0 (log)")),
}


def _fits(record):
    n_sweep, d_sweep, paths = record["n_sweep"], record["d_sweep"], record["path_length"]
    fits = {}
    for upper in (True, False):
        key = "upper_half" if upper else "all_points"
        col = lambda rows, f: [r[f] for r in rows]  # noqa: E731
        fits[key] = {
            f"{quantity}_in_{axis}": fit_exponent(col(rows, axis), col(rows, quantity), upper)
            for axis, rows in (("n", n_sweep), ("d", d_sweep))
            for quantity in ("time_s", "wall_time_s", "flops_analytic", "flops_counted")
        }
        fits[key]["sequential_steps_in_n"] = fit_exponent(col(n_sweep, "n"), col(n_sweep, "sequential_steps"), upper)
        fits[key]["path_length_in_n"] = fit_exponent(col(paths, "n"), col(paths, "measured"), upper)
    return fits


def markdown_table(results):
    f = lambda v: f"{v:.2f}"  # noqa: E731
    c = results["config"]
    upper = lambda xs: sorted(xs)[(len(xs) - 1) // 2]  # noqa: E731 (the first size of the fitted upper half)
    lines = [
        f"Fitted log-log exponents: n >= {upper(c['lengths'])} at d = {c['fixed_width']}, "
        f"d >= {upper(c['widths'])} at n = {c['fixed_length']}; B = {c['batch_size']}, "
        f"k = {c['kernel_size']}, {c['num_heads']} head(s), {c['threads']} thread(s).",
        "",
        "| layer | quantity | Table 1 | Table 1 exponent | analytic FLOPs | counted | CPU time | wall time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        fit = results["layers"][kind]["fits"]["upper_half"]
        for (name, key), (order, exponent) in zip(QUANTITIES, TABLE_1[kind]):
            if key in ("in_n", "in_d"):
                cells = [f(fit[f"{q}_{key}"]) for q in ("flops_analytic", "flops_counted", "time_s", "wall_time_s")]
            else:
                cells = ["-", f(fit[key]), "-", "-"]
            lines.append(f"| {kind} | {name} | {order} | {exponent} | " + " | ".join(cells) + " |")
    n_max = max(results["config"]["lengths"])
    lines += ["", f"At n = {n_max}:", "", "| layer | sequential steps (counted) | path length (measured) | path length (formula) |",
              "|---|---|---|---|"]
    for kind in KINDS:
        record = results["layers"][kind]
        steps = [r["sequential_steps"] for r in record["n_sweep"] if r["n"] == n_max][0]
        path = [r for r in record["path_length"] if r["n"] == n_max][0]
        lines.append(f"| {kind} | {steps} | {path['measured']} | {path['theory']} |")
    return "\n".join(lines)


# The program -------------------------------------------------------------------

def run_comparison(config, output_dir=None, log=print):
    """Measures every layer kind over both sweeps; writes the plot and JSON to `output_dir` if given."""
    keras.utils.set_random_seed(config.seed)
    if config.kernel_size < 2:
        raise ValueError(f"`kernel_size` must be at least 2. Received: kernel_size={config.kernel_size}")
    results = {
        "config": dataclasses.asdict(config),
        "threads_in_use": tf.config.threading.get_intra_op_parallelism_threads(),  # 0: TensorFlow's default
        "layers": {},
    }
    for kind in KINDS:
        start = time.perf_counter()
        record = {
            "n_sweep": [measure_layer(kind, n, config.fixed_width, config) for n in config.lengths],
            "d_sweep": [measure_layer(kind, config.fixed_length, d, config) for d in config.widths],
            "path_length": [
                dict(n=n, measured=path_length(kind, n, config),
                     theory=theoretical_path_length(kind, n, config.kernel_size))
                for n in config.lengths
            ],
        }
        record["fits"] = _fits(record)
        results["layers"][kind] = record
        log(f"{kind}: measured in {time.perf_counter() - start:.1f} s")
    results["table"] = markdown_table(results)
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        results["plot"] = pictures.plot_comparison(results, os.path.join(output_dir, "comparison.png"))
        results["json"] = os.path.join(output_dir, "comparison.json")
        with open(results["json"], "w") as f:
            json.dump(results, f, indent=1)
    return results


def main(argv):
    del argv
    from absl import flags

    tf.get_logger().setLevel("ERROR")  # one graph per (layer, n, d) is traced on purpose: no retracing warnings
    f = flags.FLAGS
    config = TINY if f.tiny else CompareConfig()
    overrides = {}
    if f.lengths:
        overrides["lengths"] = tuple(int(v) for v in f.lengths)
    if f.widths:
        overrides["widths"] = tuple(int(v) for v in f.widths)
    if f.kernel_size is not None:
        overrides["kernel_size"] = f.kernel_size
    if f.repeats is not None:
        overrides["repeats"] = f.repeats
    if f.threads is not None:
        overrides["threads"] = f.threads
    config = dataclasses.replace(config, **overrides)
    tf.config.threading.set_intra_op_parallelism_threads(config.threads)  # before TensorFlow starts
    tf.config.threading.set_inter_op_parallelism_threads(config.threads)
    start = time.perf_counter()
    results = run_comparison(config, f.output_dir)
    print(results["table"])
    print(f"\nplot: {results.get('plot')}\njson: {results.get('json')}\ntotal: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("output_dir", "outputs/compare", "Where comparison.png and comparison.json go.")
    flags.DEFINE_list("lengths", None, "Sequence lengths n (default 64,128,...,4096).")
    flags.DEFINE_list("widths", None, "Model widths d (default 64,...,1024).")
    flags.DEFINE_integer("kernel_size", None, "Convolution kernel size k (default 3).")
    flags.DEFINE_integer("repeats", None, "Timed calls per point; the median is kept (default 3).")
    flags.DEFINE_integer("threads", None, "TensorFlow threads (default 1; 0: TensorFlow's default).")
    flags.DEFINE_bool("tiny", False, "Use the tiny test configuration.")
    app.run(main)
