"""data_science: model_input_table -> regressor and its metrics.

The pipeline is a modular pipeline under the namespace
``active_modelling_pipeline``: its nodes are named
``active_modelling_pipeline.split_data_node`` and so on, and its intermediate
datasets ``active_modelling_pipeline.X_train`` and so on (the catalog's
``{namespace}.{name}`` patterns give them a home). Its input and its
parameters are mapped so that it still reads ``model_input_table`` and
``params:model_options``.
"""

from kedro.pipeline import Node, Pipeline

from .nodes import evaluate_model, split_data, train_model

NAMESPACE = "active_modelling_pipeline"


def create_pipeline(**kwargs) -> Pipeline:
    """split -> train -> evaluate, namespaced."""
    base = Pipeline(
        [
            Node(
                func=split_data,
                inputs=["model_input_table", "params:model_options"],
                outputs=["X_train", "X_test", "y_train", "y_test"],
                name="split_data_node",
            ),
            Node(
                func=train_model,
                inputs=["X_train", "y_train"],
                outputs="regressor",
                name="train_model_node",
                tags=["training"],
            ),
            Node(
                func=evaluate_model,
                inputs=["regressor", "X_test", "y_test"],
                outputs="metrics",
                name="evaluate_model_node",
            ),
        ]
    )
    return Pipeline(
        base,
        namespace=NAMESPACE,
        inputs={"model_input_table"},
        parameters={"params:model_options": "params:model_options"},
        tags=["data_science"],
    )
