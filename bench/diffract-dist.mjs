// The compiled `diffract` command (dist/, as the published package runs it),
// for the integrate-throughput bench: bin/diffract.js runs the TypeScript
// sources through tsx whenever src/ exists, which adds seconds and hundreds of
// MiB to every process. `npm run build` makes dist/.
const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
