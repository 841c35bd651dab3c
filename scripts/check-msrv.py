#!/usr/bin/env python3
"""`make lint`: the rust-version each workspace crate declares is not older than what its locked
dependencies declare (Cargo.lock, the features `make` builds with, this host's platform).
Our own code's use of newer std APIs is clippy's incompatible_msrv lint (on in `make lint`)."""
import json
import subprocess
import sys


def version(text):
    return tuple(int(x) for x in text.split(".")) + (0,) * (3 - len(text.split(".")))


def main():
    features = sys.argv[1:]
    host = next(line.split()[1] for line in subprocess.run(
        ["rustc", "-vV"], capture_output=True, text=True, check=True).stdout.splitlines()
        if line.startswith("host:"))
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1", "--filter-platform", host] + features,
        capture_output=True, text=True, check=True).stdout)
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    failed = False
    for member in meta["workspace_members"]:
        declared = packages[member].get("rust_version")
        name = packages[member]["name"]
        if not declared:
            print("check-msrv: {} declares no rust-version".format(name))
            failed = True
            continue
        seen, todo = set(), [member]
        while todo:  # everything `cargo test` builds for this crate (its dev-dependencies too)
            for dep in nodes[todo.pop()]["deps"]:
                if dep["pkg"] not in seen:
                    seen.add(dep["pkg"])
                    todo.append(dep["pkg"])
        needs = [(version(packages[i]["rust_version"]), packages[i]["name"], packages[i]["version"])
                 for i in seen if packages[i].get("rust_version") and i not in meta["workspace_members"]]
        top = max(needs) if needs else ((0, 0, 0), "-", "-")
        if version(declared) < top[0]:
            print("check-msrv: {} declares rust-version {}, but {} {} needs {}".format(
                name, declared, top[1], top[2], ".".join(map(str, top[0]))))
            failed = True
        else:
            print("check-msrv: {} rust-version {} (its dependencies need {}: {} {})".format(
                name, declared, ".".join(map(str, top[0])), top[1], top[2]))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
