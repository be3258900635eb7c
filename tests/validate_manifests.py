"""Validates Kubernetes manifests offline: each document of each FILE against the schema of its kind.

Kubernetes kinds: kubernetes-validate (PyPI; the Kubernetes OpenAPI schemas ship inside the package),
strict, so an unknown field is an error. Istio kinds (WasmPlugin, EnvoyFilter, Gateway, VirtualService):
the openAPIV3Schema of Istio's CRDs vendored in tests/schemas/ (see each file's $comment), made strict the
same way (additionalProperties: false wherever the schema lists properties and does not preserve unknown
fields). Exit status 0 when every document is valid, 1 otherwise (each problem printed), 2 when the
validator itself is missing.

    python tests/validate_manifests.py FILE...
"""
import json
import os
import sys

try:
    import jsonschema
    import kubernetes_validate
    import yaml
except ImportError as e:
    print(f"validate_manifests.py: {e}: install kubernetes-validate (./build.sh test does, into .venv)", file=sys.stderr)
    sys.exit(2)

KUBERNETES_VERSION = "1.37.0"
SCHEMAS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")
ISTIO = {
    ("extensions.istio.io/v1alpha1", "WasmPlugin"): "istio-wasmplugin-v1alpha1.json",
    ("networking.istio.io/v1alpha3", "EnvoyFilter"): "istio-envoyfilter-v1alpha3.json",
    ("networking.istio.io/v1", "Gateway"): "istio-gateway-v1.json",
    ("networking.istio.io/v1", "VirtualService"): "istio-virtualservice-v1.json",
}
METADATA = {"name", "namespace", "labels", "annotations"}


def strict(schema):
    """Unknown fields refused, as the API server's strict field validation does."""
    if isinstance(schema, dict):
        if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema.setdefault("additionalProperties", False)
        for value in schema.values():
            strict(value)
    elif isinstance(schema, list):
        for value in schema:
            strict(value)
    return schema


def istio_schema(file):
    with open(os.path.join(SCHEMAS, file)) as f:
        schema = json.load(f)
    schema.pop("$comment", None)
    schema = strict(schema)
    # The CRD schema describes spec (and status); the object around it is apiVersion, kind, metadata.
    schema["properties"].update({"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}})
    return schema


def problems(document):
    key = (document.get("apiVersion"), document.get("kind"))
    if key in ISTIO:
        unknown = set(document.get("metadata", {})) - METADATA
        found = [f"metadata: unexpected {sorted(unknown)}"] if unknown else []
        validator = jsonschema.Draft7Validator(istio_schema(ISTIO[key]))
        found += [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(document)]
        return found
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{'.'.join(map(str, e.path)) or '(root)'}: {e.message}"]
    except Exception as e:  # an unknown kind or version
        return [str(e)]
    return []


def main(files):
    failed = 0
    checked = 0
    for file in files:
        with open(file) as f:
            for document in yaml.safe_load_all(f):
                if document is None:
                    continue
                checked += 1
                name = f"{file}: {document.get('kind')} {document.get('metadata', {}).get('name')}"
                found = problems(document)
                for problem in found:
                    print(f"{name}: {problem}")
                if found:
                    failed += 1
                else:
                    print(f"{name}: valid")
    print(f"{checked} documents, {failed} invalid")
    return 1 if failed or not checked else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
