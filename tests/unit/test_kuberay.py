"""deploy/kuberay/: valid for KubeRay's own CRDs, and shaped the way its README says.

Each manifest is validated against the ``openAPIV3Schema`` of the CRD version its
``apiVersion`` names (tests/data/kuberay/: KubeRay 1.7.0's CRDs, unmodified), read with the
API server's rules rather than plain JSON Schema's (:func:`to_json_schema`), then against
the checks KubeRay's operator makes on top of the schema (validation.go: the ones these
manifests could trip). Broken copies of the manifests must fail, so neither is vacuous.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from raymix.version import __version__

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kuberay"
CRD_DIR = ROOT / "tests" / "data" / "kuberay"
MANIFESTS = ("raycluster.yaml", "rayjob.yaml")
CRDS = {"RayCluster": "ray.io_rayclusters.yaml", "RayJob": "ray.io_rayjobs.yaml"}
# git blob ids of the CRDs at KubeRay v1.7.0 (tests/data/kuberay/README.md)
CRD_BLOBS = {"ray.io_rayclusters.yaml": "ff0be58ada3bd457605eff1f258c16df21e61e21",
             "ray.io_rayjobs.yaml": "c7d3f081af8cf08c256a8c33a0c3b6ea28b816a0"}
SECRET = "raymix-s3"
STORAGE = "s3://my-bucket/raymix/my-sweep"
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are 0.9 and 1.4 MB


# --- the CRDs' schemas, read as the Kubernetes API server reads them ---------------------

# The extensions the adapter knows; any other makes it refuse, so that a newer CRD cannot
# pass through a rule this test does not apply.
KNOWN_EXTENSIONS = {
    "x-kubernetes-int-or-string",          # an integer or a string (quantities, ports)
    "x-kubernetes-preserve-unknown-fields",  # an object that keeps fields not in its schema
    "x-kubernetes-list-type",              # atomic, set (unique) or map (unique by keys)
    "x-kubernetes-list-map-keys",          # the keys of a list-type=map
    "x-kubernetes-map-type",               # how apply merges an object: no validation
    "x-kubernetes-validations",            # CEL rules (_cel_rules)
}

# The API server checks a resource's metadata as ObjectMeta, not with the CRD's schema
# (which says only `type: object`); these are the fields a manifest sets.
OBJECT_META = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}


def to_json_schema(node: dict) -> dict:
    """A CRD's structural schema (OpenAPI v3 with Kubernetes' extensions) as JSON Schema
    (draft 4) that validates as ``kubectl apply`` does (server-side, strict field checks):

    - an object's fields not in ``properties`` are errors (strict field validation; without
      it the API server silently drops them), unless ``x-kubernetes-preserve-unknown-fields``;
    - ``x-kubernetes-int-or-string``: an integer or a string (a quantity like ``"16Gi"``
      or ``1`` passes; the CRD's own ``pattern`` checks the string's form);
    - ``nullable``: null is allowed too;
    - ``format: int32/int64`` bound integers (FORMATS), and ``x-kubernetes-list-type`` and
      ``x-kubernetes-validations`` are keywords of :data:`KubernetesValidator`.
    """
    unknown = {key for key in node if key.startswith("x-kubernetes-")} - KNOWN_EXTENSIONS
    if unknown:
        raise NotImplementedError(f"the adapter does not handle {sorted(unknown)}")
    out = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties"
                                          and isinstance(value, dict)):
            out[key] = to_json_schema(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [to_json_schema(sub) for sub in value]
        elif key != "nullable":
            out[key] = value
    if out.get("x-kubernetes-int-or-string") and not {"anyOf", "oneOf"} & out.keys():
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (out.get("type") == "object" and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    if node.get("nullable"):
        return {"anyOf": [{"type": "null"}, out]}
    return out


def _list_type(validator, list_type, instance, schema):
    """``x-kubernetes-list-type``: ``set`` items are unique, ``map`` items unique by their
    ``x-kubernetes-list-map-keys`` (a missing key takes its default, e.g. a port's TCP)."""
    if not validator.is_type(instance, "array"):
        return
    if list_type == "set":
        for i, item in enumerate(instance):
            if item in instance[:i]:
                yield jsonschema.ValidationError(f"duplicate entry {item!r} in a set")
    elif list_type == "map":
        keys = schema["x-kubernetes-list-map-keys"]
        fields = schema["items"].get("properties", {})
        seen = set()
        for item in instance:
            if not isinstance(item, dict):
                continue
            key = tuple(item.get(k, fields.get(k, {}).get("default")) for k in keys)
            if key in seen:
                yield jsonschema.ValidationError(
                    f"duplicate entry with {dict(zip(keys, key))} in a list keyed by {keys}")
            seen.add(key)


def _cel_rules(validator, rules, instance, schema):
    """``x-kubernetes-validations`` (CEL) are not evaluated here: a manifest that sets a
    field carrying one fails, so that it is checked by hand (or taught to this test).
    Transition rules (those reading ``oldSelf``) run only on updates, never on create."""
    for rule in rules:
        if "oldSelf" not in rule["rule"]:
            yield jsonschema.ValidationError(
                f"a CEL rule this test does not evaluate: {rule['rule']!r} "
                f"({rule.get('message', '')})")


KubernetesValidator = jsonschema.validators.extend(
    jsonschema.Draft4Validator,
    {"x-kubernetes-list-type": _list_type, "x-kubernetes-validations": _cel_rules},
)

FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("int32")
def _int32(value) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@FORMATS.checks("int64")
def _int64(value) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


@functools.cache
def crd(kind: str) -> dict:
    return yaml.load((CRD_DIR / CRDS[kind]).read_text(), Loader=LOADER)


@functools.cache
def schema(kind: str, api_version: str) -> dict:
    """The JSON Schema of the CRD version that ``api_version`` (``ray.io/v1``) names."""
    definition = crd(kind)
    group, _, version = api_version.partition("/")
    assert group == definition["spec"]["group"], f"{kind} is in {definition['spec']['group']}"
    by_name = {v["name"]: v for v in definition["spec"]["versions"]}
    if version not in by_name or not by_name[version]["served"]:
        raise LookupError(f"{kind}: KubeRay serves no version {version!r} "
                          f"(it serves {[n for n, v in by_name.items() if v['served']]})")
    result = to_json_schema(by_name[version]["schema"]["openAPIV3Schema"])
    result["properties"]["metadata"] = OBJECT_META
    result["required"] = ["apiVersion", "kind", "metadata"]
    return result


def schema_errors(doc: dict) -> list[str]:
    """Every way ``doc`` breaks its CRD's schema, one line each (none: it is valid)."""
    validator = KubernetesValidator(schema(doc["kind"], doc["apiVersion"]),
                                    format_checker=FORMATS)
    return [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in validator.iter_errors(doc)]


# --- what KubeRay's operator checks on top of the schema (validation.go) -----------------

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_NAME = {"RayCluster": 53, "RayJob": 47}  # MaxRayClusterNameLength, MaxRayJobNameLength


def kuberay_errors(doc: dict) -> list[str]:
    """The checks of ValidateRayClusterSpec / ValidateRayJobSpec (KubeRay 1.7.0) that these
    manifests could trip: a refused resource is an event on it, not an error of kubectl."""
    errors = []
    kind, spec, name = doc["kind"], doc["spec"], doc["metadata"].get("name", "")
    if len(name) > MAX_NAME[kind] or not DNS_1035.match(name):
        errors.append(f"name {name!r}: a DNS-1035 label of at most {MAX_NAME[kind]} characters")
    cluster = spec
    if kind == "RayJob":
        selector = spec.get("clusterSelector") or {}
        cluster = spec.get("rayClusterSpec")
        if cluster is None and not selector:
            errors.append("one of rayClusterSpec or clusterSelector must be set")
        if selector and not selector.get("ray.io/cluster"):
            errors.append("clusterSelector names no cluster (ray.io/cluster)")
        if selector and spec.get("backoffLimit", 0) > 0:
            errors.append("backoffLimit is incompatible with clusterSelector")
        if not spec.get("shutdownAfterJobFinishes") and spec.get("ttlSecondsAfterFinished", 0):
            errors.append("ttlSecondsAfterFinished needs shutdownAfterJobFinishes")
        try:
            yaml.safe_load(spec.get("runtimeEnvYAML", ""))
        except yaml.YAMLError as exc:
            errors.append(f"runtimeEnvYAML is not YAML: {exc}")
    if cluster is not None:
        errors += _cluster_errors(cluster)
    return errors


def _cluster_errors(spec: dict) -> list[str]:
    errors = []
    workers = spec.get("workerGroupSpecs", [])
    groups = [("head", spec["headGroupSpec"]), *((g["groupName"], g) for g in workers)]
    for name, group in groups:
        if not group["template"]["spec"].get("containers"):
            errors.append(f"{name}: no container")
        params = group.get("rayStartParams", {})
        if group.get("resources") and any(
                params.get(k) for k in ("num-cpus", "num-gpus", "memory", "resources")):
            errors.append(f"{name}: resources in both rayStartParams and resources")
        if "labels" in params:
            errors.append(f"{name}: rayStartParams['labels'] (use the group's labels)")
    autoscaling = spec.get("enableInTreeAutoscaling", False)
    for group in workers:
        low, high = group.get("minReplicas"), group.get("maxReplicas")
        if not autoscaling and (low is None or high is None):
            errors.append(f"{group['groupName']}: minReplicas and maxReplicas are needed")
        if (low or 0) < 0 or (high or 0) < 0 or (low is not None and high is not None
                                                  and low > high):
            errors.append(f"{group['groupName']}: minReplicas {low}, maxReplicas {high}")
    if (spec.get("authOptions") or {}).get("mode") == "token" and (
            Version(spec.get("rayVersion", "0")) < Version("2.52.0")):
        errors.append("authOptions.mode token needs rayVersion 2.52.0 or later")
    if (spec.get("autoscalerOptions") or {}).get("idleTimeoutSeconds", 0) < 0:
        errors.append("autoscalerOptions.idleTimeoutSeconds is negative")
    return errors


# --- the manifests ------------------------------------------------------------------------

def load(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / name).read_text()) if doc]


@pytest.fixture(scope="module")
def raycluster() -> dict:
    (doc,) = load("raycluster.yaml")
    return doc


@pytest.fixture(scope="module")
def rayjob() -> dict:
    (doc,) = load("rayjob.yaml")
    return doc


def containers(cluster_spec: dict):
    """(group name, container) of every Ray container of a RayCluster spec."""
    for name, group in [("head", cluster_spec["headGroupSpec"]),
                        *((g["groupName"], g) for g in cluster_spec["workerGroupSpecs"])]:
        for container in group["template"]["spec"]["containers"]:
            yield name, container


def the_gpu_group(cluster_spec: dict) -> dict:
    (group,) = [g for g in cluster_spec["workerGroupSpecs"]
                if any("nvidia.com/gpu" in c.get("resources", {}).get("limits", {})
                       for c in g["template"]["spec"]["containers"])]
    return group


def runtime_env(rayjob: dict) -> dict:
    return yaml.safe_load(rayjob["spec"]["runtimeEnvYAML"])


# --- the tests ----------------------------------------------------------------------------

def test_the_crds_are_kuberays_unmodified():
    for name, blob in CRD_BLOBS.items():
        data = (CRD_DIR / name).read_bytes()
        assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == blob, name
    assert "v1.7.0" in (CRD_DIR / "README.md").read_text()
    assert "Apache License" in (CRD_DIR / "LICENSE").read_text()


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_the_adapted_schemas_are_valid_json_schema(kind):
    KubernetesValidator.check_schema(schema(kind, "ray.io/v1"))


@pytest.mark.parametrize("name", MANIFESTS)
def test_each_manifest_passes_its_crds_schema_and_kuberays_checks(name):
    docs = load(name)
    assert docs and all(doc["kind"] in CRDS for doc in docs), "only KubeRay resources"
    for doc in docs:
        assert doc["apiVersion"] == "ray.io/v1"  # the CRDs' stored version; v1alpha1 is old
        assert schema_errors(doc) == []
        assert kuberay_errors(doc) == []


def _break(path: list, value=None, *, delete: bool = False):
    def edit(doc: dict) -> dict:
        doc = copy.deepcopy(doc)
        node = doc
        for key in path[:-1]:
            node = node[key]
        if delete:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return doc
    return edit


GPU_GROUP = ["spec", "workerGroupSpecs", 0]
HEAD_CONTAINER = ["spec", "headGroupSpec", "template", "spec", "containers", 0]


@pytest.mark.parametrize("edit, expected", [
    (_break(GPU_GROUP + ["minReplicas"], "zero"), "'zero' is not of type 'integer'"),
    (_break(GPU_GROUP + ["minReplica"], 0), "Additional properties"),  # a typo'd field
    (_break(GPU_GROUP + ["maxReplicas"], 2**31), "is not a 'int32'"),
    (_break(GPU_GROUP + ["groupName"], delete=True), "'groupName' is a required property"),
    (_break(["spec", "headGroupSpec", "rayStartParams", "num-cpus"], 0),
     "0 is not of type 'string'"),                                 # a number, not "0"
    (_break(GPU_GROUP + ["template", "spec", "containers", 0, "resources", "limits",
                         "nvidia.com/gpu"], "one"), "does not match"),  # not a quantity
    (_break(HEAD_CONTAINER + ["resources", "limits", "memory"], 16.5), "is not valid under"),
    (_break(HEAD_CONTAINER + ["ports", 1, "containerPort"], 6379), "duplicate entry"),
    (_break(["spec", "managedBy"], "someone"), "CEL rule"),
    (_break(["spec", "enableInTreeAutoscaling"], "true"), "'true' is not of type 'boolean'"),
    (_break(["apiVersion"], "ray.io/v2"), "serves no version"),
])
def test_a_broken_raycluster_fails_the_schema(raycluster, edit, expected):
    broken = edit(raycluster)
    try:
        errors = schema_errors(broken)
    except LookupError as exc:
        errors = [str(exc)]
    assert any(expected in error for error in errors), errors


@pytest.mark.parametrize("edit, expected", [
    (_break(["spec", "shutdownAfterJobFinishes"], "yes"), "'yes' is not of type 'boolean'"),
    (_break(["spec", "runtimeEnv"], {"pip": ["raymix"]}), "Additional properties"),
    (_break(["spec", "rayClusterSpec", "workerGroupSpecs", 0, "maxReplicas"], "8"),
     "'8' is not of type 'integer'"),
    (_break(["spec", "rayClusterSpec", "headGroupSpec", "template", "spec", "containers", 0,
             "env", 0, "valueFrom", "secretKeyRef", "key"], delete=True),
     "'key' is a required property"),
])
def test_a_broken_rayjob_fails_the_schema(rayjob, edit, expected):
    errors = schema_errors(edit(rayjob))
    assert any(expected in error for error in errors), errors


@pytest.mark.parametrize("edit, expected", [
    (_break(GPU_GROUP + ["minReplicas"], 9), "minReplicas 9, maxReplicas 8"),
    (_break(["metadata", "name"], "RayMix"), "DNS-1035"),
    (_break(["spec", "rayVersion"], "2.51.0"), "needs rayVersion 2.52.0"),
    (_break(["spec", "headGroupSpec", "resources"], {"CPU": "0"}), "in both rayStartParams"),
])
def test_a_broken_raycluster_fails_kuberays_checks(raycluster, edit, expected):
    broken = edit(raycluster)
    assert schema_errors(broken) == []  # valid for the schema, refused by the operator
    assert any(expected in error for error in kuberay_errors(broken))


def test_the_rayjob_runs_on_the_raycluster_spec(raycluster, rayjob):
    """One cluster spec: the RayJob embeds raycluster.yaml's, so the two never drift."""
    assert rayjob["spec"]["rayClusterSpec"] == raycluster["spec"]
    assert "clusterSelector" not in rayjob["spec"]


def test_the_cluster_selector_variant_in_the_comment_is_valid(rayjob):
    """rayjob.yaml's comment: clusterSelector instead of rayClusterSpec, no backoffLimit."""
    text = (DEPLOY / "rayjob.yaml").read_text()
    assert "clusterSelector: {ray.io/cluster: raymix}" in text and "backoffLimit" in text
    variant = copy.deepcopy(rayjob)
    del variant["spec"]["rayClusterSpec"]
    variant["spec"]["clusterSelector"] = {"ray.io/cluster": "raymix"}
    assert any("backoffLimit" in e for e in kuberay_errors(variant))
    del variant["spec"]["backoffLimit"]
    assert schema_errors(variant) == [] and kuberay_errors(variant) == []


def test_the_head_runs_no_trials(raycluster):
    head = raycluster["spec"]["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"
    assert "resources" not in head  # the group's Ray resources would override num-cpus
    for _, container in containers({"headGroupSpec": head, "workerGroupSpecs": []}):
        assert "nvidia.com/gpu" not in container["resources"].get("limits", {})


def test_the_gpu_group_autoscales_from_zero(raycluster):
    spec = raycluster["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["autoscalerOptions"]["idleTimeoutSeconds"] > 0
    group = the_gpu_group(spec)
    assert group["minReplicas"] == 0 and group.get("replicas", 0) == 0
    assert group["maxReplicas"] >= 1
    (container,) = group["template"]["spec"]["containers"]
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    assert any(t["key"] == "nvidia.com/gpu" for t in group["template"]["spec"]["tolerations"])


def test_the_images_run_the_ray_version_raymix_is_tested_with(raycluster):
    """rayVersion is cluster.yaml's pinned Ray (2.60.0), pyproject.toml accepts it, and every
    container runs rayproject/ray:<rayVersion>-py311-gpu."""
    setup = "\n".join(yaml.safe_load((ROOT / "cluster.yaml").read_text())["setup_commands"])
    (pinned,) = re.findall(r"ray\[[a-z,]+\]==([0-9.]+)", setup)
    spec = raycluster["spec"]
    assert spec["rayVersion"] == pinned
    pyproject = (ROOT / "pyproject.toml").read_text()
    (ray,) = [Requirement(r) for r in re.findall(r'"(ray\[[^"]*)"', pyproject)]
    assert ray.specifier.contains(pinned)
    for _, container in containers(spec):
        assert container["image"] == f"rayproject/ray:{pinned}-py311-gpu"


def test_the_rayjob_runs_a_sweep_into_object_storage(rayjob):
    spec = rayjob["spec"]
    argv = shlex.split(spec["entrypoint"])
    assert argv[:4] == ["python", "-m", "raymix", "sweep"]
    config = argv[4]
    assert not Path(config).is_absolute() and config.endswith(".yaml")  # in the working_dir
    overrides = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    storage = [o.partition("=")[2] for o in overrides if o.startswith("compute.storage=")]
    assert storage == [STORAGE]
    url = urlsplit(STORAGE)
    assert url.scheme == "s3" and url.netloc and url.path.strip("/")
    assert spec["shutdownAfterJobFinishes"] is True

    # raymix's own command line takes the entrypoint, and the override sets compute.storage
    from raymix.cli.commands import build_parser
    from raymix.config import load_config

    args = build_parser().parse_args(argv[3:])
    assert args.command == "sweep" and args.config == config
    cfg = load_config(ROOT / "jobs" / "configs" / "demo.yaml", args.overrides)
    assert cfg.compute.storage == STORAGE


def test_the_runtime_env_ships_the_project_and_installs_raymix(rayjob):
    from ray.runtime_env import RuntimeEnv, RuntimeEnvConfig

    env = runtime_env(rayjob)
    assert set(env) <= {"working_dir", "pip", "env_vars", "excludes", "config"}
    RuntimeEnv(**env)  # Ray's own checks: a working_dir URI must be a .zip, pip a list, ...
    assert set(env.get("config", {})) <= RuntimeEnvConfig.known_fields  # others: a warning
    url = urlsplit(env["working_dir"])
    assert url.scheme in ("s3", "gs") and url.path.endswith(".zip")
    requirements = [Requirement(r) for r in env["pip"]]
    (raymix,) = [r for r in requirements if r.name == "raymix"]
    assert str(raymix.specifier) == f"=={__version__}"
    assert "ray" not in {r.name for r in requirements}  # the image's Ray stays


def test_credentials_come_from_a_secret_and_no_secret_is_in_the_files(raycluster, rayjob):
    for spec in (raycluster["spec"], rayjob["spec"]["rayClusterSpec"]):
        for group, container in containers(spec):
            env = {e["name"]: e for e in container.get("env", [])}
            for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
                assert name in env, (group, name)
                ref = env[name]["valueFrom"]["secretKeyRef"]
                assert ref == {"name": SECRET, "key": name,
                               **({"optional": True} if name == "AWS_ENDPOINT_URL" else {})}
            for entry in env.values():  # nothing secret-looking given as a literal value
                if re.search(r"KEY|SECRET|TOKEN|PASSWORD", entry["name"]):
                    assert "value" not in entry, entry["name"]
    assert not set(runtime_env(rayjob).get("env_vars", {})) & {
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
    for name in MANIFESTS:
        text = (DEPLOY / name).read_text()
        assert not re.search(r"AKIA[0-9A-Z]{16}|aws_secret_access_key\s*=", text), name
        assert all(doc["kind"] != "Secret" for doc in load(name))


def test_the_readme_uses_the_manifests_names(rayjob):
    readme = (DEPLOY / "README.md").read_text()
    assert "helm install" in readme and "kuberay-operator" in readme
    assert f"kubectl create secret generic {SECRET}" in readme
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        assert key in readme
    assert "kubectl apply -f deploy/kuberay/rayjob.yaml" in readme
    assert f"logs -f job/{rayjob['metadata']['name']}" in readme
    assert f"raymix report {STORAGE}" in readme
    assert runtime_env(rayjob)["working_dir"] in readme

