"""Load a promotion's pipeline from the worker's trusted catalog (`rollway.spec_catalog`)."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from rollway.models import LoadedPipeline, LoadPipelineInput
from rollway.spec_catalog import CatalogConfig, CatalogError

LoadPipeline = Callable[[LoadPipelineInput], LoadedPipeline]


def load_with(config: CatalogConfig, inp: LoadPipelineInput) -> LoadedPipeline:
    """The pipeline and its digest; a refusal is a non-retryable `PipelineRefused`."""
    try:
        loaded = config.load(inp.service, inp.name, inp.inline)
    except CatalogError as e:
        raise ApplicationError(
            str(e), type="PipelineRefused", non_retryable=not e.retryable
        ) from None
    if activity.in_activity():
        activity.logger.info("pipeline for %s: %s (%s)", inp.service, loaded.source, loaded.digest)
    return LoadedPipeline(
        spec=loaded.spec,
        digest=loaded.digest,
        source=loaded.source,
        pipeline_dir=str(loaded.folder),
        inline=loaded.inline,
    )


@activity.defn(name="load_pipeline")
def load_pipeline(inp: LoadPipelineInput) -> LoadedPipeline:
    """From the catalog the `ROLLWAY_PIPELINE_CATALOG*` variables name (read at each call)."""
    return load_with(CatalogConfig.from_env(), inp)


def catalog_activity(config: CatalogConfig) -> LoadPipeline:
    """`load_pipeline` bound to a given catalog (the worker's flags; tests)."""

    @activity.defn(name="load_pipeline")
    def load_pipeline(inp: LoadPipelineInput) -> LoadedPipeline:
        """From the catalog this worker was started with."""
        return load_with(config, inp)

    return load_pipeline
