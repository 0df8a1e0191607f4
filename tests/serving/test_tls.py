"""gRPC over TLS: ``--ssl_config_file`` on the server, ``Client(tls=...)`` on the client."""

import datetime

import grpc
import numpy as np
import pytest

import zoo
from zoo.serving import config_files
from zoo.serving.client import Client
from zoo.serving.errors import ServingError
from zoo.serving.exporter import export
from zoo.serving.server import ModelServer, ServerOptions

x509 = pytest.importorskip("cryptography.x509", reason="cryptography is in the test extras")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def self_signed(name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def test_tls_server_and_client(tmp_path, real_images):
    export(zoo.create("lenet5"), tmp_path, update_config=False)
    key, cert = self_signed("localhost")
    ssl = config_files.SSLConfig(server_key=key.decode(), server_cert=cert.decode())
    config_files.write_text_proto(tmp_path / "ssl.config", ssl)
    server = ModelServer(
        ServerOptions(
            port=0,
            rest_api_port=0,
            host="127.0.0.1",
            model_name="lenet5",
            model_base_path=str(tmp_path / "lenet5"),
            ssl_config_file=str(tmp_path / "ssl.config"),
            file_system_poll_wait_seconds=0,
        )
    )
    server.start()
    try:
        target = f"localhost:{server.grpc_port}"
        with Client(target, tls=True, root_certificates=cert) as client:
            out = client.predict("lenet5", {"images": real_images((28, 28, 1), 2)})
            assert out["scores"].shape == (2, 10)
        with Client(target, retries=0, timeout=3) as plaintext, pytest.raises(ServingError) as err:
            plaintext.status("lenet5")
        assert err.value.code == grpc.StatusCode.UNAVAILABLE
        _, other_cert = self_signed("localhost")
        with Client(target, tls=True, root_certificates=other_cert, retries=0, timeout=3) as untrusted:
            with pytest.raises(ServingError):
                untrusted.status("lenet5")
    finally:
        server.stop(grace=1)
    assert np.isfinite(out["scores"]).all()


def test_ssl_config_needs_key_and_cert(tmp_path):
    (tmp_path / "ssl.config").write_text('server_cert: "x"\n')
    with pytest.raises(ValueError, match="server_key"):
        ModelServer._credentials(str(tmp_path / "ssl.config"))
