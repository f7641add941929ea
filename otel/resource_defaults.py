"""The service's defaults on a resource, whichever way it was configured (variables or a file).

`service.name` defaults to the service's own name (the SDK's default would be
`unknown_service`) and `service.instance.id` to a random id. In a worker process
(`worker_index` set) `service.instance.id` gets `-<index>` appended: every worker
is a fresh interpreter reading the same configuration, so a user-set id (the
pod's name, say) would otherwise be shared by all of them and their series
would collide.
"""

from __future__ import annotations

import uuid

from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource


def with_service_defaults(
    resource: Resource, service_name: str, *, worker_index: int | None = None
) -> Resource:
    """`resource` with the service's name and instance id where it lacks them, per worker."""
    defaults: dict[str, str] = {}
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        defaults[SERVICE_NAME] = service_name
    instance_id = str(resource.attributes.get(SERVICE_INSTANCE_ID) or uuid.uuid4())
    if worker_index is not None:
        defaults[SERVICE_INSTANCE_ID] = f"{instance_id}-{worker_index}"
    elif SERVICE_INSTANCE_ID not in resource.attributes:
        defaults[SERVICE_INSTANCE_ID] = instance_id
    return resource.merge(Resource(defaults)) if defaults else resource
