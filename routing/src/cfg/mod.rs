//! The configuration language: preprocessor, parser, checker, compiler and interpreter.
