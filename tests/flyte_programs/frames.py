"""A Flyte 2 program whose dataframes cross task boundaries as their annotations ask."""

import flyte
import flyte.io
import flyte.storage
import pandas as pd

env = flyte.TaskEnvironment(name="frame_boundaries")


@env.task
def to_pandas(df: flyte.io.DataFrame) -> pd.DataFrame:
    return df  # Flyte 2 reads it as pandas on the way out


@env.task
def wrapped(df: flyte.io.DataFrame) -> str:
    return type(df).__name__


@env.task
def as_pandas(df: pd.DataFrame) -> str:
    return type(df).__name__


if __name__ == "__main__":
    flyte.init(storage=flyte.storage.S3.auto(region="us-east-2"))
    print(flyte.run(to_pandas, flyte.io.DataFrame.from_df(pd.DataFrame({"a": [1]}))).outputs())
