// Prints "<vendor> <architecture>" of the first real WebGPU adapter Dawn finds, or "none".
// Plain JS so that set-up can run it before the TypeScript build.
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter();
const info = adapter?.info;
const isNull = !adapter || /null/i.test(`${info?.vendor} ${info?.architecture} ${info?.description}`) && !info?.vendor;
console.log(isNull ? 'none' : `${info.vendor || '?'} ${info.architecture || '?'}`);
process.exit(0);
