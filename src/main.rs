//! The `facemtl` command line: parses flags and hands each subcommand to `commands`.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod commands;

#[derive(Parser)]
#[command(
    name = "facemtl",
    version,
    about = "Multi-task face recognition + facial expression recognition with dynamic task weights, on a from-scratch wgpu compute engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the multi-task network (default: small preset, dynamic weights, synthetic faces).
    Train(Box<commands::train::TrainArgs>),
    /// Train several weighting methods on the same folds and seeds and tabulate them.
    Compare(Box<commands::compare::CompareArgs>),
    /// Evaluate a checkpoint: FER accuracy and confusion matrix, FR identification and
    /// verification.
    Eval(commands::eval::EvalArgs),
    /// Identity among the training subjects (closed set, top-k) and expression of face
    /// images; for people outside the training set, `identify`.
    Predict(commands::predict::PredictArgs),
    /// The L2-normalised face-recognition embedding of images, as CSV or safetensors.
    Embed(commands::embed::EmbedArgs),
    /// Whether pairs of photos show the same person (cosine similarity against the
    /// checkpoint's verification threshold).
    Verify(commands::verify::VerifyArgs),
    /// Who in a gallery of people (never trained on, or not) each photo shows, or
    /// "unknown".
    Identify(commands::identify::IdentifyArgs),
    /// Write the built-in synthetic faces as PNGs, a manifest CSV and a montage.
    GenData(commands::gen_data::GenDataArgs),
    /// Print the chosen GPU adapter and its limits.
    Info(commands::info::InfoArgs),
}

/// Standard output for `command`. Training (`train`, `compare`) writes its results to files
/// and prints progress: a closed stdout must not stop it, so SIGPIPE is ignored and its
/// lines go through `facemtl::say!`, which drops what cannot be written. For the commands
/// whose printed output is the result (`predict`, `eval`, `verify`, `identify`, `info`),
/// a stdout closed from the start is an error (the answer would be lost and the exit
/// status say it was given), and a reader that goes away mid-way ends them quietly.
fn check_stdout(command: &Command) -> Result<(), String> {
    match command {
        Command::Train(_) | Command::Compare(_) => {
            #[cfg(unix)]
            // SAFETY: nothing else is running yet; SIG_IGN is always a valid action.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            }
            Ok(())
        }
        Command::Embed(_) | Command::GenData(_) => Ok(()),
        Command::Eval(_)
        | Command::Predict(_)
        | Command::Verify(_)
        | Command::Identify(_)
        | Command::Info(_) => {
            if facemtl::console::stdout_is_open() {
                Ok(())
            } else {
                Err("standard output is closed, and this command's answer is what it prints; give it somewhere to write (a terminal, a file, a pipe)".into())
            }
        }
    }
}

fn main() -> std::process::ExitCode {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`facemtl info | head -1`)
    // would panic; the default action ends the process quietly like other CLI tools.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Mesa's device-select layer prints "XDG_RUNTIME_DIR is invalid" on headless machines;
    // it only orders adapters, which facemtl does itself. Set while single-threaded.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none()
        && std::env::var_os("NODEVICE_SELECT").is_none()
    {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Err(e) = check_stdout(&cli.command) {
        eprintln!("facemtl: error: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Train(args) => {
            let given = matches
                .subcommand_matches("train")
                .map(commands::flags_given::<commands::train::TrainArgs>)
                .unwrap_or_default();
            commands::train::run(*args, &given)
        }
        Command::Compare(args) => {
            let given = matches
                .subcommand_matches("compare")
                .map(commands::flags_given::<commands::compare::CompareArgs>)
                .unwrap_or_default();
            commands::compare::run(*args, &given)
        }
        Command::Eval(args) => commands::eval::run(args),
        Command::Predict(args) => commands::predict::run(args),
        Command::Embed(args) => commands::embed::run(args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Identify(args) => commands::identify::run(args),
        Command::GenData(args) => commands::gen_data::run(&args),
        Command::Info(args) => commands::info::run(args),
    };
    if facemtl::console::stdout_lost() {
        facemtl::note!("facemtl: standard output was closed, so some lines were not printed; the run's files hold every result");
    }
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("facemtl: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
