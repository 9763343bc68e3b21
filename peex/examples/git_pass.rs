//! The `mtime_from = git` pass alone, for `bench/gittimes.py`: reads the commit times of the
//! tracked files below a folder and prints how many, and the wall time.

use std::time::Instant;

fn main() -> std::process::ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: git_pass DIR");
        return std::process::ExitCode::from(2);
    };
    let started = Instant::now();
    match peex::gittime::GitTimes::read(std::path::Path::new(&dir)) {
        Ok(t) => {
            println!(
                "{} files, {} commits read, {:.3} s",
                t.len(),
                t.commits_read,
                started.elapsed().as_secs_f64()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::from(1)
        }
    }
}
