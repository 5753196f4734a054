// Node's globals for TypeScript programs in warmbox's typescript image,
// which carries no @types/node (Debian does not package it): enough to
// read stdin and args, loosely typed.
declare var process: any;
declare var Buffer: any;
declare var module: any;
declare var exports: any;
declare var __dirname: string;
declare var __filename: string;
declare function require(id: string): any;
