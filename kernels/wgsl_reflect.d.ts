// wgsl_reflect's Node entry resolves to an empty module under ESM (ENVIRONMENT.md); we import its ES module
// file directly and borrow the package's own type declarations for it.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
