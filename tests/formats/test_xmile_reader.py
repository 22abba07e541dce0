"""The XMILE reader on small hand-written files: what it builds, what it repairs, how it refuses."""

from __future__ import annotations

import re
import warnings

import pytest

from policylab.errors import ExpressionError, ModelFileError, PolicyLabError
from policylab.expr.ast import BinOp, Call, Name, Num
from policylab import Model
from policylab.formats.xmile import XmileRepairWarning, read_xmile_bytes, write_xmile
from policylab.model.ir import Auxiliary, Constant, Flow, Lookup, Method, Stock

NS = 'xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0"'


def xmile(variables: str, *, specs: str = "<start>0</start><stop>4</stop><dt>1</dt>", extra: str = "",
          method: str = "Euler", models: str = "") -> bytes:
    return (f'<?xml version="1.0"?>\n<xmile version="1.0" {NS}>\n<header><vendor>t</vendor></header>\n'
            f'<sim_specs method="{method}">{specs}</sim_specs>\n{extra}\n'
            f"<model>\n<variables>\n{variables}\n</variables>\n</model>\n{models}</xmile>\n").encode()


def read(data: bytes):  # noqa: ANN201 - the IR Model
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_xmile_bytes(data, "test.xmile")


def refuses(data: bytes, pattern: str, error: type[PolicyLabError] = ModelFileError) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XmileRepairWarning)
        with pytest.raises(error, match=pattern) as info:
            read_xmile_bytes(data, "test.xmile")
    message = str(info.value)
    assert message.startswith("test.xmile"), message
    return message


def test_numeric_auxiliaries_become_constants_and_others_auxiliaries() -> None:
    model = read(xmile('<aux name="a"><eqn>-2.5</eqn></aux><aux name="b"><eqn>a * 2</eqn></aux>'))
    assert isinstance(model.variables["a"], Constant) and model.variables["a"].value == -2.5
    assert isinstance(model.variables["b"], Auxiliary)
    assert model.variables["b"].where.line == 8


def test_xmile_int_floors_and_mod_takes_the_divisors_sign_as_the_standard_says() -> None:
    model = read(xmile('<aux name="a"><eqn>INT(TIME) + (TIME MOD 3) + MOD(TIME, 2)</eqn></aux>'))
    expr = model.variables["a"].equation
    assert expr == BinOp("+", BinOp("+", Call("int", (Name("time"),)),
                                    BinOp("mod", Name("time"), Num(3.0))), Call("modulo", (Name("time"), Num(2.0))))


@pytest.mark.parametrize("product", ["Vensim", "Vensim, xmutil"])
def test_int_and_mod_truncate_toward_zero_in_files_vensim_wrote(product: str) -> None:
    data = xmile('<aux name="a"><eqn>INT(TIME) + (TIME MOD 3) + MOD(TIME, 2)</eqn></aux>')
    data = data.replace(b"<vendor>t</vendor>", f"<vendor>t</vendor><product>{product}</product>".encode())
    expr = read(data).variables["a"].equation
    assert expr == BinOp("+", BinOp("+", Call("trunc", (Name("time"),)),
                                    Call("fmod", (Name("time"), Num(3.0)))), Call("fmod", (Name("time"), Num(2.0))))


def test_start_and_stop_time_are_numbers_unless_the_model_defines_them() -> None:
    model = read(xmile('<aux name="a"><eqn>STOPTIME - STARTTIME</eqn></aux>',
                       specs="<start>1</start><stop>5</stop><dt>1</dt>"))
    assert model.variables["a"].equation == BinOp("-", Num(5.0), Num(1.0))
    model = read(xmile('<aux name="starttime"><eqn>7</eqn></aux><aux name="a"><eqn>STARTTIME</eqn></aux>'))
    assert model.variables["a"].equation == Name("starttime")


def test_a_gf_with_an_equation_is_a_lookup_applied_to_it() -> None:
    model = read(xmile('<aux name="a"><eqn>TIME</eqn><gf type="extrapolate"><xscale min="0" max="2"/>'
                       "<ypts>0,5,6</ypts></gf></aux>"))
    table = model.variables["a"]
    assert isinstance(table, Lookup)
    assert (table.xs, table.ys, table.extrapolation, table.input) == ((0.0, 1.0, 2.0), (0.0, 5.0, 6.0), "linear",
                                                                      Name("time"))


def test_dimensions_given_by_size_are_numbered_from_one() -> None:
    model = read(xmile('<aux name="a"><dimensions><dim name="d"/></dimensions><eqn>d * 10</eqn></aux>',
                       extra='<dimensions><dim name="d" size="3"/></dimensions>'))
    assert [model.variables[f"a[{i}]"].equation for i in ("1", "2", "3")] == [
        BinOp("*", Num(float(i)), Num(10.0)) for i in (1, 2, 3)]


def test_stocks_and_flows_take_non_negative_from_behavior_unless_they_say_otherwise() -> None:
    model = read(xmile('<stock name="s"><eqn>1</eqn><outflow>f</outflow><non_negative>false</non_negative></stock>'
                       '<stock name="t"><eqn>1</eqn><outflow>f</outflow></stock><flow name="f"><eqn>1</eqn></flow>',
                       extra="<behavior><stock><non_negative/></stock></behavior>"))
    assert isinstance(model.variables["s"], Stock) and not model.variables["s"].non_negative
    assert model.variables["t"].non_negative
    assert isinstance(model.variables["f"], Flow) and not model.variables["f"].non_negative


def test_vendor_elements_are_ignored_and_unknown_ones_reported() -> None:
    data = xmile('<aux name="a"><eqn>1</eqn><isee:delay_aux/><shape/></aux>')
    with pytest.warns(XmileRepairWarning, match=r"ignored <shape> in <aux name=\"a\"> \(line 8\)"):
        read_xmile_bytes(data, "test.xmile")


def test_an_rk4_file_is_honoured() -> None:
    assert read(xmile('<aux name="a"><eqn>1</eqn></aux>', method="RK4")).time.method == Method.RK4


def test_document_type_declarations_are_refused() -> None:
    data = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaa">]><xmile>&a;</xmile>'
    refuses(data, "document type")


def test_text_that_is_not_xml_names_line_and_column() -> None:
    refuses(b"<xmile>\n<model><variables>\n<aux name='a'><eqn>1</eqn></aux>&\n</variables></model></xmile>",
            r"test.xmile:3: the file is not well-formed XML \(.* at line 3, column 34\)")


def test_a_stray_end_tag_is_not_guessed_at() -> None:
    refuses(xmile('<aux name="a"><eqn>1</eqn></aux></flow>'), "not well-formed XML")


def test_a_truncated_file_is_refused() -> None:
    refuses(xmile('<aux name="a"><eqn>1</eqn></aux>')[:-40], "not well-formed XML")


def test_an_unknown_encoding_is_refused() -> None:
    refuses(b'<?xml version="1.0" encoding="nope-8"?><xmile/>', "unknown encoding")


def test_the_root_must_be_xmile() -> None:
    refuses(b"<model/>", r"test.xmile:1: the root element is <model>")


def test_sim_specs_are_required_and_checked() -> None:
    refuses(xmile("", specs="<start>0</start><dt>1</dt>"), "<sim_specs> has no <stop>")
    refuses(xmile("", specs="<start>0</start><stop>x</stop>"), r"<stop> of <sim_specs> is 'x'")
    refuses(xmile("", specs="<start>5</start><stop>1</stop>"), "stop >= start")
    refuses(xmile("", method="RK45"), r'method="RK45"'.replace("(", r"\("))


def test_unsupported_constructs_name_the_element_and_line() -> None:
    message = refuses(xmile('<stock name="belt"><eqn>0</eqn><conveyor><len>2</len><capacity>5</capacity>'
                            "</conveyor></stock>"), "unsupported")
    assert re.search(r'test.xmile:8: unsupported: <stock name="belt"> is a conveyor with <capacity>', message)
    refuses(xmile('<stock name="q"><eqn>0</eqn><queue/></stock>'), r'<stock name="q"> uses <queue> \(queues\)')
    refuses(xmile('<stock name="belt"><eqn>0</eqn><conveyor><len>2</len></conveyor></stock>'), "has no outflow")
    refuses(xmile('<aux name="a"><eqn>m(1)</eqn></aux>', extra='<macro name="m"><parm>x</parm><eqn>m(x)</eqn></macro>'),
            r"unsupported: macro m calls itself", ExpressionError)
    refuses(xmile('<array name="a"/>'), r"unsupported element <array> in <variables>")
    refuses(xmile('<module name="m" resource="other.xmile"/>'), "loads its model from another file")


def test_legacy_stella_layout_is_unsupported_with_advice() -> None:
    data = f'<xmile {NS}><sim_specs><start>0</start><stop>1</stop></sim_specs><model><aux name="a"/></model></xmile>'
    refuses(data.encode(), "unsupported: legacy Stella format")


def test_equations_that_do_not_parse_name_the_variable() -> None:
    refuses(xmile('<aux name="Bad one"><eqn>1 +</eqn></aux>'), r'test.xmile:8: <aux name="Bad one">: cannot parse',
            ExpressionError)


def test_a_variable_without_equation_is_refused() -> None:
    refuses(xmile('<aux name="a"><eqn>{nothing here}</eqn></aux>'), r'<aux name="a">: has no equation; write one')


def test_names_must_be_unique_ignoring_case_and_spaces() -> None:
    refuses(xmile('<aux name="A b"><eqn>1</eqn></aux><aux name="a_B"><eqn>2</eqn></aux>'),
            "defines 'a_b' a second time")


def test_a_dimension_defined_twice_is_refused_unless_the_definitions_agree() -> None:
    first = '<dim name="d"><elem name="x"/><elem name="y"/></dim>'
    other = '<dim name="D"><elem name="x"/><elem name="z"/></dim>'
    aux = '<aux name="a"><dimensions><dim name="d"/></dimensions><eqn>1, 2</eqn></aux>'
    message = refuses(xmile(aux, extra=f"<dimensions>{first}\n{other}</dimensions>"),
                      r'<dim name="D"> is defined twice, with other elements \(first at line \d+\)')
    assert message.startswith("test.xmile:")
    model = read(xmile(aux, extra=f"<dimensions>{first}</dimensions><dimensions>{first}</dimensions>"))
    assert model.dimensions["d"].elements == ("x", "y")


def test_array_mistakes_are_explained() -> None:
    dims = '<dimensions><dim name="d"><elem name="x"/><elem name="y"/></dim></dimensions>'
    refuses(xmile('<aux name="a"><dimensions><dim name="e"/></dimensions><eqn>1</eqn></aux>', extra=dims),
            'uses dimension "e", which the file does not define')
    refuses(xmile('<aux name="a"><dimensions><dim name="d"/></dimensions><eqn>1, 2, 3</eqn></aux>', extra=dims),
            "lists 3 values for an array of 2 elements")
    refuses(xmile('<aux name="a"><dimensions><dim name="d"/></dimensions>'
                  '<element subscript="z"><eqn>1</eqn></element></aux>', extra=dims), "'z' is not an element of d")
    refuses(xmile('<aux name="a"><dimensions><dim name="d"/></dimensions><eqn>1, 2</eqn></aux>'
                  '<aux name="b"><eqn>a[*] + 1</eqn></aux>', extra=dims), "ranges over a whole dimension")
    refuses(xmile('<aux name="b"><eqn>c[x]</eqn></aux><aux name="c"><eqn>1</eqn></aux>', extra=dims),
            "which is not an array")
    refuses(xmile('<aux name="a"><dimensions><dim name="d"/></dimensions><eqn>1, 2</eqn></aux>'
                  '<aux name="b"><eqn>a[w]</eqn></aux>', extra=dims), "'w', which is not an element of d")
    refuses(xmile('<aux name="a"><dimensions><dim name="d"/></dimensions>'
                  '<element subscript="x"><eqn>1</eqn></element></aux>', extra=dims), r"no equation for element \[y\]")


def test_module_mistakes_are_explained() -> None:
    refuses(xmile('<module name="m"/>'), "places model 'm', which the file does not define")
    refuses(xmile('<module name="m"/>', models='<model name="m"><variables><module name="m"/></variables></model>'),
            "inside itself")
    refuses(xmile('<module name="m"><connect to="q" from=".a"/></module><aux name="a"><eqn>1</eqn></aux>',
                  models='<model name="m"><variables><aux name="b"><eqn>1</eqn></aux></variables></model>'),
            "model 'm' has no variable 'q'")
    refuses(xmile('<module name="m"/>',
                  models='<model name="m"><variables><aux name="b"><eqn>{input}</eqn></aux></variables></model>'),
            "connect it from the parent model")


def test_graphical_function_mistakes_are_explained() -> None:
    refuses(xmile('<gf name="g"><xpts>0,1</xpts><ypts>1,2,3</ypts></gf>'), "2 x values and 3 y values")
    refuses(xmile('<gf name="g"><xpts>1,0</xpts><ypts>1,2</ypts></gf>'), "decrease")
    refuses(xmile('<gf name="g"><ypts>1,a</ypts><xscale min="0" max="1"/></gf>'), "not a list of numbers")
    refuses(xmile('<gf name="g" type="smooth"><xpts>0,1</xpts><ypts>1,2</ypts></gf>'), 'type="smooth"')


def test_extension_elements_from_a_newer_version_are_refused() -> None:
    refuses(xmile('<aux name="a"><eqn>1</eqn><policylab:constant colour="red" '
                  'xmlns:policylab="https://policylab.dev/xmile/1"/></aux>'), "unknown attribute 'colour'")


def test_macros_that_would_grow_an_equation_exponentially_are_refused() -> None:
    def doubling(levels: int) -> str:
        return "".join(f'<macro name="m{i}"><parm>x</parm><eqn>m{i + 1}(x) + m{i + 1}(x)</eqn></macro>'
                       for i in range(levels)) + f'<macro name="m{levels}"><parm>x</parm><eqn>x</eqn></macro>'

    refuses(xmile('<aux name="a"><eqn>m0(TIME)</eqn></aux>', models=doubling(30)),
            r"expanding macro m\d+ makes the equation larger than PolicyLab reads", ExpressionError)
    refuses(xmile('<aux name="a"><eqn>m0(TIME)</eqn></aux>', models=doubling(40)),
            r"macros call macros more than 32 deep here \(m0 -> m1 -> m2 -> \.\.\. -> m30 -> m31 -> m32\)",
            ExpressionError)
    placing = "".join(f'<macro name="s{i}"><parm>x</parm><eqn>s + s{i + 1}(x) + s{i + 1}(x)</eqn><variables>'
                      f'<stock name="s"><eqn>x</eqn></stock></variables></macro>' for i in range(30))
    refuses(xmile('<aux name="a"><eqn>s0(TIME)</eqn></aux>', models=placing + '<macro name="s30"><parm>x</parm>'
                  "<eqn>x</eqn></macro>"), r"makes the equation larger", ExpressionError)


def test_an_apply_to_all_equation_beside_elements_gives_those_not_listed_and_each_keeps_its_table() -> None:
    dims = '<dimensions><dim name="r"><elem name="a"/><elem name="b"/></dim></dimensions>'
    model = read(xmile(f'<aux name="x"><dimensions><dim name="r"/></dimensions><eqn>Time</eqn>'
                       '<element subscript="a"><gf><xpts>0,4</xpts><ypts>0,8</ypts></gf></element>'
                       '<element subscript="b"><gf><xpts>0,4</xpts><ypts>0,40</ypts></gf></element></aux>'
                       '<aux name="y"><dimensions><dim name="r"/></dimensions><eqn>Time * 2</eqn>'
                       '<element subscript="b"><eqn>Time + 1</eqn></element></aux>', extra=dims))
    assert model.arrays["x"].equation is not None and model.arrays["y"].equation is not None
    back = read_xmile_bytes(write_xmile(model).encode(), "back.xmile")
    for ir in (model, back):
        result = Model(ir).run()
        assert [float(result[f"x[{e}]"].isel(run=0, time=-1)) for e in "ab"] == [8.0, 40.0]
        assert [float(result[f"y[{e}]"].isel(run=0, time=-1)) for e in "ab"] == [8.0, 5.0]
