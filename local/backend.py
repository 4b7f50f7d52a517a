"""What the service stands on locally, assembled in one place: AWS (moto, holding the resources
template.yaml declares), the TrustedForm simulator, the screening providers' simulators a deployment would
choose (``screens``: local/providers.py), and fake credentials.

Every way of running the service here builds on :class:`Backend`: the local stack (``local.stack``), the
in-process test stack (tests/conftest.py), the crash and concurrency harnesses (tests/support/) and the
benches. moto runs either as a server on 127.0.0.1 (``moto="server"``: functions in other processes
reach it over HTTP) or in this process (``moto="in-process"``: ``mock_aws``, for the tests' in-process
stack); either way one request at a time (local/motolock.py).

No network beyond loopback and no AWS account: the fake credentials are set before any client exists.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from contextlib import AbstractContextManager
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from tf_retainer.store.lead_index import DynamoLeadIndex
    from tf_retainer.store.lead_reader import DynamoLeadReader
    from tf_retainer.store.lead_table import LeadTable
    from tf_retainer.store.lead_writer import DynamoLeadWriter

    from local.providers import LocalProviders
    from local.provision import Provisioned
    from local.simulator import TrustedFormSimulator

log = logging.getLogger("tf_retainer.local.backend")

HOST = "127.0.0.1"
REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# What a retry queue holds, visible or not.
QUEUE_DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def set_fake_credentials() -> None:
    """This process's AWS credentials and region: fake ones, whatever the shell holds (no profile)."""
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(FAKE_CREDENTIALS)
    os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = REGION
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon locally


def patch_moto() -> None:
    """local/motolock.py's patches: one request at a time, transactions without table copies, cheap
    symmetric KMS keys, stream records trimmed as DynamoDB trims them. Idempotent."""
    from local.motolock import reuse_symmetric_kms_private_key, serialise_moto

    serialise_moto()
    reuse_symmetric_kms_private_key()


def start_moto_server(port: int = 0) -> tuple[Any, str]:
    """moto's server on 127.0.0.1 (``port`` 0: a free one), patched: (the server, its endpoint URL)."""
    from moto.server import ThreadedMotoServer

    from local.motolock import pin_mismatches

    patch_moto()
    for problem in pin_mismatches():
        log.warning("local/motolock.py: %s; its moto patches may no longer fit", problem)
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    if host != HOST:
        server.stop()
        raise RuntimeError(f"moto bound {host}, not {HOST}")
    return server, f"http://{HOST}:{bound}"


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Messages on a queue, visible, in flight or delayed."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(QUEUE_DEPTH_ATTRIBUTES))
    return sum(int(value) for value in attributes["Attributes"].values())


class Backend:
    """moto with the template's resources, the TrustedForm simulator, vendor keys: ``start()``, ``stop()``.

    ``simulator``: a running :class:`TrustedFormSimulator` to use (not stopped here), the base URL of
    another TrustedForm, or None to start one on ``simulator_port`` accepting ``api_key``.
    ``screens``: SCREENS' form (``leadid=jornaya,dnc=dncscrub``): each named provider's simulator started
    and provisioned as a deployment choosing it (its template parameters, its key's secret); ValueError
    naming what is wrong in it.
    ``prefix``, ``stage``, ``parameters``: the resources' names and template parameters (``provision``).
    """

    def __init__(
        self,
        api_key: str,
        *,
        moto: Literal["server", "in-process"] = "server",
        moto_port: int = 0,
        simulator: TrustedFormSimulator | str | None = None,
        simulator_port: int = 0,
        stage: str = "dev",
        prefix: str = "tf-retainer-local",
        parameters: dict[str, str] | None = None,
        screens: str = "",
    ) -> None:
        self.api_key = api_key
        self.screens = screens
        self.providers: LocalProviders | None = None
        self.moto_mode = moto
        self.moto_port = moto_port
        self.simulator_port = simulator_port
        self.stage, self.prefix, self.parameters = stage, prefix, dict(parameters or {})
        self.sim: TrustedFormSimulator | None = simulator if not isinstance(simulator, str) else None
        self.simulator_url = simulator.rstrip("/") if isinstance(simulator, str) else ""
        self._own_simulator = simulator is None
        self.moto: Any = None  # the ThreadedMotoServer (moto="server")
        self._mock: AbstractContextManager[Any] | None = None  # mock_aws (moto="in-process")
        self.endpoint_url = ""  # the moto server's; empty in-process
        self.provisioned: Provisioned | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def __enter__(self) -> Backend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Backend:
        """moto, the simulator, then the resources; on failure what started is stopped again."""
        try:
            if self.moto_mode == "server":
                set_fake_credentials()
                self.moto, self.endpoint_url = start_moto_server(self.moto_port)
            else:
                from moto import mock_aws

                patch_moto()
                # boto3's default session is kept (moto would drop it): it only ever holds fake credentials.
                self._mock = mock_aws(config={"core": {"reset_boto3_session": False}})
                self._mock.__enter__()
            self._start_simulator()
            if self.screens:
                from local.providers import start_providers

                self.providers = start_providers(self.screens, HOST)
            self.provision()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_simulator(self) -> None:
        if self._own_simulator:
            from local.simulator import TrustedFormSimulator

            self.sim = TrustedFormSimulator(host=HOST, port=self.simulator_port, api_keys=(self.api_key,))
            self.sim.start()
        if self.sim is not None:
            self.simulator_url = str(self.sim.base_url)

    def provision(self) -> Provisioned:
        """The template's resources (again: another set of names when ``prefix`` changed)."""
        self.provisioned = self._provision(self.providers)
        self.__dict__.pop("leads", None)
        return self.provisioned

    def _provision(self, providers: LocalProviders | None) -> Provisioned:
        from local.provision import provision

        with warnings.catch_warnings(action="ignore"):  # template properties moto does not apply
            return provision(
                stage=self.stage,
                endpoint_url=self.endpoint_url or None,
                region=REGION,
                prefix=self.prefix,
                api_key=self.api_key,
                parameters={**(providers.parameters if providers else {}), **self.parameters},
                secret_values=providers.secret_values if providers else None,
            )

    def stop_simulator(self) -> None:
        """Stop the simulator this backend started (one it was given is left running)."""
        if self.sim is not None and self._own_simulator:
            self.sim.stop()

    def stop_providers(self) -> None:
        if self.providers is not None:
            providers, self.providers = self.providers, None
            providers.stop()

    def stop(self) -> None:
        self.stop_simulator()
        self.stop_providers()
        if self._mock is not None:
            mock, self._mock = self._mock, None
            mock.__exit__(None, None, None)
        if self.moto is not None:
            server, self.moto = self.moto, None
            server.stop()

    # -- what runs against it -----------------------------------------------------------------------

    @property
    def simulator(self) -> TrustedFormSimulator:
        """The TrustedForm simulator in use (started here or given); an error with another TrustedForm."""
        if self.sim is None:
            raise RuntimeError("this backend runs no TrustedForm simulator")
        return self.sim

    @property
    def resources(self) -> Provisioned:
        if self.provisioned is None:
            raise RuntimeError("the backend is not started")
        return self.provisioned

    def function_environment(self, settings: dict[str, str] | None = None) -> dict[str, str]:
        """The functions' environment against this backend: the template's variables resolved against
        its resources, the simulator, fake credentials, then ``settings``."""
        return self._environment(self.resources, settings)

    def screened_environment(self, providers: LocalProviders, settings: dict[str, str] | None = None) -> dict[str, str]:
        """The functions' environment of a deployment on these resources whose screens ``providers`` answer
        (running simulators: ``LocalProviders.of``): provisioned again with their template parameters and
        their keys' secrets, as a deployment choosing them is. This backend's own environment is unchanged."""
        return self._environment(self._provision(providers), settings)

    def _environment(self, provisioned: Provisioned, settings: dict[str, str] | None) -> dict[str, str]:
        env = {
            **provisioned.environment(),
            "TRUSTEDFORM_API_URL": self.simulator_url,
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
            "POWERTOOLS_DEV": "false",
            **FAKE_CREDENTIALS,
            **(settings or {}),
        }
        for name in ("AWS_ENDPOINT_URL", "TRUSTEDFORM_API_URL"):
            if env.get(name) and not env[name].startswith(f"http://{HOST}:"):
                raise RuntimeError(f"{name} must be on {HOST}, not {env[name]}")
        return env

    def client(self, service: str) -> Any:
        """A boto3 client of this backend's moto (one per service and endpoint for the process)."""
        from local.provision import aws_client

        return aws_client(service, REGION, self.endpoint_url or None)

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def sqs(self) -> Any:
        return self.client("sqs")

    @cached_property
    def leads(self) -> LeadTable:
        """The lead store over this backend's table, as the functions build it (the consumer key from its
        secret)."""
        return self.resources.lead_store(self.dynamodb, self.client("secretsmanager"))

    @property
    def reader(self) -> DynamoLeadReader:
        return self.leads.reader

    @property
    def writer(self) -> DynamoLeadWriter:
        return self.leads.writer

    @property
    def index(self) -> DynamoLeadIndex:
        return self.leads.index

    def add_vendor(self, name: str, key: str | None = None, *, role: str = "vendor") -> str:
        """An API key for vendor ``name`` (a fresh one unless given; ``role`` "buyer" for the buyer's own
        systems); returns it."""
        import secrets
        from datetime import UTC, datetime

        from tf_retainer.store.vendor_keys import VendorKeyStore

        key = key or secrets.token_urlsafe(24)
        VendorKeyStore(self.resources.table_name, client=self.dynamodb).put(key, name, now=datetime.now(UTC), role=role)
        return key

    def queue_depth(self, queue_url: str | None = None) -> int:
        """Messages on ``queue_url`` (default: the retry queue), visible, in flight or delayed."""
        return queue_depth(self.sqs, queue_url or self.resources.retry_queue_url)

    def receive(self, count: int, timeout: float = 15.0, queue_url: str | None = None) -> list[dict[str, Any]]:
        """``count`` messages from ``queue_url`` (default: the retry queue) once visible, with their
        attributes; short polls (no long poll held in moto). Fewer when ``timeout`` seconds pass."""
        sqs, url = self.sqs, queue_url or self.resources.retry_queue_url
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(messages) < count:
            answer = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, count - len(messages)),
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages += answer.get("Messages", [])
            if len(messages) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        return messages
