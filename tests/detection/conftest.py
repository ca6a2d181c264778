"""Helpers of the detection tests: tiny ONNX graphs that output fixed tensors (official detector layouts)."""
from __future__ import annotations

import numpy as np


def constant_graph(path, outputs: dict[str, np.ndarray], input_size=(64, 64)):
    """An ONNX file with input 'input' (1, 3, h, w) whose outputs are fixed tensors (plus 0 x mean(input), so the
    input is really consumed)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w, h = input_size
    nodes = [helper.make_node("ReduceMean", ["input"], ["mean"], keepdims=0),
             helper.make_node("Mul", ["mean", "zero"], ["nothing"])]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    outs = []
    for name, value in outputs.items():
        inits.append(numpy_helper.from_array(value, f"{name}_const"))
        if value.dtype == np.int64:
            nodes.append(helper.make_node("Identity", [f"{name}_const"], [name]))
            outs.append(helper.make_tensor_value_info(name, TensorProto.INT64, value.shape))
        else:
            nodes.append(helper.make_node("Add", [f"{name}_const", "nothing"], [name]))
            outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, value.shape))
    graph = helper.make_graph(nodes, "fixed", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                             [1, 3, h, w])], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)
