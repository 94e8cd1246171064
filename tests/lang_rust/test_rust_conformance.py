"""genesis-lang-rust against the conformance suite of genesis_core.testing (through the real worker and sandbox)."""

from genesis_core.testing.languages import LanguagePluginTests

from genesis_lang_rust import RustLanguage


class TestRustSingleFile(LanguagePluginTests):
    language_class = RustLanguage
    main_file = "main.rs"
    hello_files = {
        "main.rs": """
        // EVOLVE-BLOCK-START
        fn greeting() -> &'static str {
            "hello genesis"
        }
        // EVOLVE-BLOCK-END

        fn main() {
            println!("{}", greeting());
        }
        """
    }
    broken_files = {"main.rs": "fn main() { let x: u32 = \"not a number\"; }\n"}
    # rustc finds errors in the build; a host-side check would mean compiling twice.
    syntax_check_finds_errors = False


class TestRustCargoProject(LanguagePluginTests):
    language_class = RustLanguage
    main_file = "src/main.rs"
    hello_files = {
        "Cargo.toml": """
        [package]
        name = "hello"
        version = "0.1.0"
        edition = "2021"
        """,
        "src/words.rs": """
        pub fn greeting() -> String {
            ["hello", "genesis"].join(" ")
        }
        """,
        "src/main.rs": """
        mod words;

        // EVOLVE-BLOCK-START
        fn main() {
            println!("{}", words::greeting());
        }
        // EVOLVE-BLOCK-END
        """,
    }
    broken_files = {
        "Cargo.toml": "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        "src/main.rs": "fn main() { missing_function(); }\n",
    }
    syntax_check_finds_errors = False
