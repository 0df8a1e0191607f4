"""--mixed-precision on CPUs: the bfloat16 instruction check and the warning where bfloat16 is emulated."""

import logging

from zoo import cpu_kernels
from zoo.training import distribute

# Flags lines as /proc/cpuinfo writes them: an AVX2-only AMD EPYC (Zen 2) and a Sapphire Rapids Xeon.
ZEN2 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu vme sse sse2 avx avx2 fma bmi2\n"
SAPPHIRE_RAPIDS = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"


def _cpuinfo(tmp_path, text):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return path


def test_the_cpu_check_reads_the_flags_line(tmp_path):
    assert cpu_kernels.cpu_computes_bfloat16(_cpuinfo(tmp_path, ZEN2)) is False
    assert cpu_kernels.cpu_computes_bfloat16(_cpuinfo(tmp_path, SAPPHIRE_RAPIDS)) is True
    assert cpu_kernels.cpu_computes_bfloat16(_cpuinfo(tmp_path, "processor\t: 0\nflags\n")) is None
    assert cpu_kernels.cpu_computes_bfloat16(tmp_path / "missing") is None
    assert cpu_kernels.cpu_model_name(_cpuinfo(tmp_path, "model name\t: AMD EPYC\n" + ZEN2)) == "AMD EPYC"


def test_emulated_bfloat16_warns_and_names_the_way_out(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger=distribute.logger.name):
        assert distribute.warn_if_bfloat16_is_emulated("mixed_bfloat16", _cpuinfo(tmp_path, ZEN2))
    assert "Leave --mixed-precision off" in caplog.text and "avx512_bf16" in caplog.text


def test_no_warning_where_bfloat16_is_native_unknown_or_not_used(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger=distribute.logger.name):
        assert not distribute.warn_if_bfloat16_is_emulated("mixed_bfloat16", _cpuinfo(tmp_path, SAPPHIRE_RAPIDS))
        assert not distribute.warn_if_bfloat16_is_emulated("mixed_bfloat16", tmp_path / "missing")
        assert not distribute.warn_if_bfloat16_is_emulated("mixed_float16", _cpuinfo(tmp_path, ZEN2))
    assert caplog.text == ""


def test_this_machine_warns_exactly_when_its_cpu_lacks_bfloat16(caplog):
    """The real path: precision(True) on this CPU warns when, and only when, /proc/cpuinfo lacks the flags."""
    import keras

    distribute._warn_once_if_bfloat16_is_emulated.cache_clear()
    with caplog.at_level(logging.WARNING, logger=distribute.logger.name):
        with distribute.precision(True):
            policy = keras.config.dtype_policy().name
    emulated = policy == "mixed_bfloat16" and cpu_kernels.cpu_computes_bfloat16() is False
    assert ("Leave --mixed-precision off" in caplog.text) == emulated
    assert keras.config.dtype_policy().name == "float32"
