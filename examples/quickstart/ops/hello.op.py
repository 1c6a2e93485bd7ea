"""Your first Op: chant discovers every module-level Op in *.op.py files."""

from chant import Op, Outcome, phase, shell

hello = Op(
    name="hello",
    overview="Say hello, then look around the machine",
    phases=[
        phase("Greet", [
            shell("echo 'hello from chant'", outcome=Outcome("Greeting", "stdout")),
        ]),
        phase("Look around", [
            shell("uname -s"),
            shell("date -u +%Y-%m-%dT%H:%M:%SZ"),
        ], parallel=True),
    ],
)
