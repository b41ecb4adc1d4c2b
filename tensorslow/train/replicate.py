"""Synchronous data parallelism: one tower of the model per worker task, built for you.

    def model_fn(batch):
        x, y = batch
        logits = ts.layers.dense(x, 10, name="out")
        return ts.losses.sparse_softmax_cross_entropy(y, logits)     # a mean over the shard

    def input_fn(index, count):   # runs under worker `index`'s device scope
        ds = ts.data.Dataset.from_tensor_slices((images, labels)).shard(count, index)
        return ds.batch(32).repeat().make_one_shot_iterator().get_next()

    rep = ts.train.replicate(model_fn, input_fn, ts.train.GradientDescentOptimizer(0.1),
                             num_replicas=2, aggregation="ring")
    sess.run(rep.train_op)

This builds TF1's in-graph replication: tower i is built under "/job:worker/task:i" (its
input, forward and backward pass run there), each tower's gradients are computed from its own
shard, the mean gradient is applied once per step, and the global step grows by one. With
equal shards and mean losses, a step makes the same update as one replica on the whole batch.

aggregation="ps": the variables live on parameter-server tasks ("/job:ps/task:k", round robin
    over `num_ps`, by ts.train.replica_device_setter); the towers' gradients are averaged with
    add_n next to each variable (on its ps task) and applied there once.
aggregation="ring": no parameter server. Tower 0 creates the variables on worker 0; every
    other tower gets its own copy ("replica_<i>/<name>", in GLOBAL_VARIABLES so checkpoints
    hold them, not in TRAINABLE_VARIABLES), initialized from tower 0's initial value. The
    gradients are averaged by all-reduce among the workers (worker.allreduce.all_reduce: the
    ring from 3 workers on with gradients over 1 MB, each worker's gradients sent to every
    other one below that), and each worker applies the same mean gradient to its copy, so the
    copies stay equal. Each replica gets its own optimizer state (slots, Adam's beta
    powers).

`inputs` is either a function input_fn(replica_index, num_replicas) returning that replica's
input (called under the replica's device scope, so a Dataset read there stays on that
worker), or a tensor / tuple / list / dict of tensors whose first dimension is split evenly
across the replicas. `model_fn(shard)` returns the replica's loss (a scalar: the mean over its
shard); it must create its variables with ts.get_variable or ts.layers, so that replicas
share them (an error says so otherwise).
"""

from __future__ import annotations

import collections

from tensorslow.framework.ops import (
    GraphKeys,
    colocate_with,
    control_dependencies,
    device,
    get_default_graph,
    name_scope,
)
from tensorslow.ops import array_ops, control_flow_ops, math_ops
from tensorslow.ops import variable_scope as vs
from tensorslow.ops.variables import Variable, assign_add, trainable_variables

Replicated = collections.namedtuple(
    "Replicated", ["train_op", "loss", "tower_losses", "global_step", "variables"])
Replicated.__doc__ = """What `replicate` built: the training op (one synchronous step), the mean
of the towers' losses, each tower's loss, the global step, and each tower's variables."""

AGGREGATIONS = ("ps", "ring")


def _split_inputs(inputs, num_replicas: int) -> list:
    if isinstance(inputs, dict):
        keys = sorted(inputs)
        parts = [_split_one(inputs[k], num_replicas) for k in keys]
        return [dict(zip(keys, shard, strict=True)) for shard in zip(*parts, strict=True)]
    if isinstance(inputs, (tuple, list)):
        parts = [_split_one(x, num_replicas) for x in inputs]
        return [type(inputs)(shard) for shard in zip(*parts, strict=True)]
    return _split_one(inputs, num_replicas)


def _split_one(tensor, num_replicas: int) -> list:
    from tensorslow.framework.ops import convert_to_tensor

    tensor = convert_to_tensor(tensor)
    dims = tensor.shape.as_tuple()
    if dims and dims[0] is not None and dims[0] % num_replicas:
        raise ValueError(f"replicate: the batch dimension of {tensor.name} ({dims[0]}) does not "
                         f"divide into {num_replicas} equal shards")
    return array_ops.split(tensor, num_replicas, 0, name="replicate_split")


def _replica_devices(worker_job: str, num_replicas: int) -> list[str]:
    return [f"/job:{worker_job}/task:{i}" for i in range(num_replicas)]


def _fresh_optimizer(optimizer):
    """A copy of `optimizer` with its own slots and non-slot variables (for one replica)."""
    import copy

    clone = copy.copy(optimizer)
    clone._slots = {}
    clone._non_slot_dict = {}
    return clone


def replicate(model_fn, inputs, optimizer, num_replicas: int, aggregation: str = "ps", *,
              num_ps: int = 1, worker_job: str = "worker", ps_job: str = "ps",
              global_step=None, name: str = "replicate") -> Replicated:
    """Builds `num_replicas` towers of `model_fn` and one synchronous training step (see the
    module docstring)."""
    from tensorslow.train.device_setter import replica_device_setter
    from tensorslow.train.training_util import get_or_create_global_step

    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    num_replicas = int(num_replicas)
    if num_replicas < 1:
        raise ValueError("num_replicas must be >= 1")
    devices = _replica_devices(worker_job, num_replicas)
    graph = get_default_graph()
    shards = None if callable(inputs) else _split_inputs(inputs, num_replicas)

    def shard_for(i: int):
        return inputs(i, num_replicas) if shards is None else shards[i]

    if global_step is None:
        step_device = f"/job:{ps_job}/task:0" if aggregation == "ps" else devices[0]
        with device(step_device):
            global_step = get_or_create_global_step(graph)

    tower_losses, tower_vars, tower_grads = [], [], []
    primary: dict[str, Variable] = {}
    scope = vs.get_variable_scope()
    for i, dev in enumerate(devices):
        before = set(id(v) for v in trainable_variables())
        if aggregation == "ps":
            placement = replica_device_setter(ps_tasks=num_ps, ps_device=f"/job:{ps_job}",
                                              worker_device=dev)
            getter = None
        else:
            placement = dev
            getter = _PrimaryGetter(primary) if i == 0 else _ReplicaGetter(primary, i)
        with name_scope(f"{name}_tower_{i}"), device(placement), vs.variable_scope(
                scope, reuse=vs.AUTO_REUSE if i > 0 else scope.reuse, custom_getter=getter):
            loss = model_fn(shard_for(i))
        created = [v for v in trainable_variables() if id(v) not in before]
        if i == 0:
            variables = created if aggregation == "ring" else (
                created or list(trainable_variables()))
            if not variables:
                raise ValueError("replicate: model_fn created no trainable variables")
        elif created:
            raise ValueError(
                f"replicate: tower {i} created new trainable variables "
                f"({', '.join(v.op.name for v in created[:3])}); model_fn must create its "
                "variables with ts.get_variable or ts.layers so replicas share them")
        else:
            variables = ([getter.copies[v.op.name] for v in tower_vars[0]]
                         if aggregation == "ring" else tower_vars[0])
        with device(dev):
            grads = optimizer.compute_gradients(loss, var_list=variables)
        if any(g is None for g, _ in grads):
            missing = [v.op.name for g, v in grads if g is None]
            raise ValueError(f"replicate: the loss of tower {i} does not depend on "
                             f"{missing}")
        tower_losses.append(loss)
        tower_vars.append(variables)
        tower_grads.append([g for g, _ in grads])

    if aggregation == "ps":
        train_op = _apply_on_parameter_servers(optimizer, tower_grads, tower_vars[0],
                                               global_step, name)
    else:
        train_op = _apply_after_ring(optimizer, tower_grads, tower_vars, devices, global_step,
                                     name)
    with device(devices[0]), name_scope(f"{name}_loss"):
        mean_loss = math_ops.multiply(math_ops.add_n(tower_losses), 1.0 / num_replicas,
                                      name="mean")
    graph.add_to_collection(GraphKeys.TRAIN_OP, train_op)
    return Replicated(train_op, mean_loss, tower_losses, global_step, tower_vars)


class _PrimaryGetter:
    """Tower 0 of a ring: records the variables it creates by name."""

    def __init__(self, primary: dict):
        self.primary = primary

    def __call__(self, getter, name, *args, **kwargs):
        var = getter(name, *args, **kwargs)
        if kwargs.get("trainable") is not False:
            self.primary[name] = var
        return var


class _ReplicaGetter:
    """Tower i > 0 of a ring: a copy of each of tower 0's variables, on this tower's device,
    starting from tower 0's initial value."""

    def __init__(self, primary: dict, index: int):
        self.primary = primary
        self.index = index
        self.copies: dict[str, Variable] = {}

    def __call__(self, getter, name, *args, **kwargs):
        original = self.primary.get(name)
        if original is None:
            return getter(name, *args, **kwargs)
        copy = self.copies.get(original.op.name)
        if copy is None:
            graph = get_default_graph()
            with graph.name_scope(None):
                copy = Variable(original.initialized_value(),
                                name=f"replica_{self.index}/{original.op.name}",
                                trainable=False, collections=[GraphKeys.GLOBAL_VARIABLES])
            self.copies[original.op.name] = copy
        return copy


def _apply_on_parameter_servers(optimizer, tower_grads, variables, global_step, name):
    """add_n of the towers' gradients next to each variable, one apply_gradients."""
    n = len(tower_grads)
    averaged = []
    with name_scope(f"{name}_average"):
        for k, var in enumerate(variables):
            with colocate_with(var.op):
                total = math_ops.add_n([grads[k] for grads in tower_grads])
                averaged.append((math_ops.multiply(total, 1.0 / n), var) if n > 1
                                else (total, var))
    return optimizer.apply_gradients(averaged, global_step=global_step)


def _apply_after_ring(optimizer, tower_grads, tower_vars, devices, global_step, name):
    from worker.allreduce import all_reduce

    reduced = all_reduce(tower_grads, devices, average=True, name=f"{name}_allreduce")
    updates = []
    for i, (grads, variables, dev) in enumerate(zip(reduced, tower_vars, devices, strict=True)):
        opt = optimizer if i == 0 else _fresh_optimizer(optimizer)
        with device(dev):
            updates.append(opt.apply_gradients(list(zip(grads, variables, strict=True)),
                                               name=f"{name}_apply_{i}"))
    with control_dependencies(updates), colocate_with(global_step.op):
        increment = assign_add(global_step, 1, name=f"{name}_step")
    return control_flow_ops.group(increment, name=f"{name}_train")
