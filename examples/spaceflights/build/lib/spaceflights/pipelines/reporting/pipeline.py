"""reporting: one node outside any namespace, beside the modelling branch."""

from kedro.pipeline import Node, Pipeline

from .nodes import summarize_passenger_capacity


def create_pipeline(**kwargs) -> Pipeline:
    """Summarise passenger capacity; depends only on the preprocessed shuttles."""
    return Pipeline(
        [
            Node(
                func=summarize_passenger_capacity,
                inputs="preprocessed_shuttles",
                outputs="shuttle_passenger_capacity",
                name="summarize_passenger_capacity_node",
                tags=["reporting"],
            )
        ]
    )
