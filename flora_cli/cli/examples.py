"""Worked examples, in one place: `--help` shows them (as each command's epilog) and the man
pages print them (scripts/gen_docs.py), so the two never disagree. Standard library only.

The test suite (tests/test_docs.py) fails on an example whose command or flag does not exist,
so a renamed flag cannot leave a stale example behind.
"""

from __future__ import annotations

#: (what it does, the command line) by command path; a line may end in ` \` to continue.
_IDS = "--project-id prj_123 --workspace-id ws_456"
_MUG = '--prompt "a mug"'
EXAMPLES: dict[tuple[str, ...], list[tuple[str, str]]] = {
    (): [
        ("Try flora against the built-in sandbox, with no account and no key:",
         f"flora --sandbox generations create --type image {_MUG}"),
        ("Start an image generation and print only its run id:",
         f"flora generations create {_IDS} \\\n"
         f"    --type image {_MUG} --query run_id -r"),
        ("Show the version, Python version and platform (for a bug report):",
         "flora --version"),
        ("Turn on TAB completion in the current bash:",
         'eval "$(flora completion bash)"'),
    ],
    ("runs", "start-generation"): [
        ("Start a run, with the IDs taken from the environment:",
         "export FLORA_PROJECT_ID=prj_123 FLORA_WORKSPACE_ID=ws_456\n"
         f"flora runs start-generation --type image {_MUG}"),
        ("Read the prompt from a file, pick the model and set its parameters:",
         "flora runs start-generation --type image --prompt @prompt.txt \\\n"
         "    --model t2i-flux-2-pro --param seed=42 --param guidance=3.5"),
        ("Read the prompt from standard input and print only the run id:",
         'echo "a red bicycle" |\n'
         "    flora runs start-generation --type image --prompt - --json |\n"
         "    jq -r .run_id"),
        ("Start a run, wait for it and save its outputs into ./out:",
         f"flora runs start-generation --type image {_MUG} \\\n"
         "    --download ./out"),
        ("Show the request that would be sent (key redacted) and send nothing:",
         'flora runs start-generation --type text --prompt "a haiku" --dry-run'),
        ("Try it against the built-in sandbox:",
         f"flora --sandbox runs start-generation --type image {_MUG}"),
    ],
    ("generations", "create"): [
        ("Start an image generation:",
         f"flora generations create {_IDS} \\\n"
         f"    --type image {_MUG}"),
        ("Pass model parameters as a JSON object, then override one of them:",
         f"flora generations create {_IDS} \\\n"
         "    --type video --prompt @prompt.txt \\\n"
         "    --params @params.json --param duration=8"),
        ("Start it, wait until it completes and save the outputs into ./out:",
         f"flora generations create {_IDS} \\\n"
         '    --type audio --prompt "rain on a roof" --download ./out'),
        ("Try it against the built-in sandbox:",
         'flora --sandbox generations create --type text --prompt "a haiku"'),
        ("One run per row of a JSONL or CSV file, 16 at a time; run it again to resume:",
         f"flora generations create {_IDS} \\\n"
         "    --type image --from-file rows.jsonl --concurrency 16 > out.jsonl"),
        ("This CI machine's quarter of the rows (a matrix of four):",
         f"flora generations create {_IDS} \\\n"
         "    --type image --from-file rows.jsonl --shard 2/4 --download ./out"),
    ],
    ("runs", "get"): [
        ("Show a run:", "flora runs get run_123"),
        ("Print only its status:", "flora runs get run_123 --query status -r"),
    ],
    ("runs", "wait"): [
        ("Wait for a run to complete or fail, with progress on a terminal:",
         "flora runs wait run_123"),
        ("Wait at most ten minutes (exit 124 if it is still going), and save its outputs:",
         "flora runs wait run_123 --wait-timeout 600 --download ./out"),
    ],
    ("sandbox", "serve"): [
        ("Serve the sandbox API on http://127.0.0.1:4010/api/v1:",
         "flora sandbox serve --port 4010"),
        ("Then use it from another shell, with any sk_test_ key:",
         "export FLORA_BASE_URL=http://127.0.0.1:4010/api/v1\n"
         "export FLORA_API_KEY=sk_test_demo\n"
         'flora runs start-generation --project-id prj_sandbox \\\n'
         f"    --workspace-id ws_sandbox --type image {_MUG}"),
        ("Serve a flaky API, to see how a client copes with failures:",
         "flora sandbox serve --error-rate 0.2 --latency 500 --seed 1"),
    ],
    ("completion",): [
        ("Load completions in the current bash, or in every new one from ~/.bashrc:",
         'eval "$(flora completion bash)"'),
        ("Or save them where bash-completion, zsh (with ~/.zfunc in fpath) and fish look:",
         "flora completion bash \\\n"
         "    > ~/.local/share/bash-completion/completions/flora\n"
         "flora completion zsh > ~/.zfunc/_flora\n"
         "flora completion fish > ~/.config/fish/completions/flora.fish"),
    ],
    ('auth',): [
        ('', 'flora auth login          # prompts for the key'),
        ('', 'flora auth login --profile ci --with-key < key.txt'),
        ('', 'flora auth status'),
        ('', 'flora auth token | pbcopy'),
    ],
    ('auth', 'login'): [
        ('', 'flora auth login'),
        ('', 'flora auth login --profile ci --with-key < /run/secrets/key'),
        ('', 'flora auth login --profile sandbox --with-key \\\n    --base-url http://127.0.0.1:4010/api/v1'),
    ],
    ('auth', 'logout'): [
        ('', 'flora auth logout'),
        ('', 'flora auth logout --profile staging'),
    ],
    ('auth', 'status'): [
        ('', 'flora auth status'),
        ('', 'flora auth status --profile staging --json | jq .profiles[0].works'),
    ],
    ('auth', 'token'): [
        ('', 'curl -H "Authorization: Bearer $(flora auth token)" \\\n    https://app.flora.ai/api/v1/workspaces'),
    ],
    ('config',): [
        ('', 'flora config list'),
        ('', 'flora config set workspace_id ws_abc123'),
        ('', 'flora config set timeout 120 --profile slow-network'),
        ('', 'flora config set current_profile staging'),
        ('', 'flora config unset model'),
    ],
    ('config', 'get'): [
        ('', 'flora config get workspace_id'),
    ],
    ('config', 'list'): [
        ('', 'flora config list --json | jq -r .workspace_id.value'),
    ],
    ('config', 'path'): [
        ('', 'flora config path'),
        ('', '$EDITOR "$(flora config path | head -1)"'),
    ],
    ('config', 'set'): [
        ('', 'flora config set workspace_id ws_abc123'),
        ('', 'flora config set timeout 120 --profile slow-network'),
        ('', 'flora config set current_profile staging'),
    ],
    ('config', 'unset'): [
        ('', 'flora config unset model'),
        ('', 'flora config unset current_profile'),
    ],
    ('models', 'get'): [
        ('', 'flora models get t2i-flux-2-pro'),
    ],
    ('models', 'list'): [
        ('', 'flora models list --type video'),
        ('', "flora models list --json | jq -r '.models[].model_id'"),
    ],
    ('projects', 'list'): [
        ('', 'flora projects list --workspace-id ws_abc123 --all'),
        ('', 'flora projects list --search mug --format jsonl | jq -r .project_id'),
    ],
    ('runs', 'history'): [
        ('', 'flora runs history --status failed --since 7d'),
        ('', 'flora runs history --batch b1a2b3c4d5e6f7a8 --format jsonl'),
    ],
    ('workspaces', 'list'): [
        ('', "flora workspaces list --json | jq -r '.workspaces[0].workspace_id'"),
    ],
}


def epilog(path: tuple[str, ...]) -> str | None:
    """The examples of a command as a click epilog (each kept as written, not re-wrapped)."""
    examples = EXAMPLES.get(path)
    if not examples:
        return None
    paragraphs: list[list[str]] = []
    for what, command_line in examples:
        lines = [f"  {line}" for line in command_line.splitlines()]
        if what or not paragraphs:
            paragraphs.append([f"  # {what}"] if what else [])
        paragraphs[-1].extend(lines)
    return "\n\n".join(["Examples:", *("\b\n" + "\n".join(p) for p in paragraphs)])
