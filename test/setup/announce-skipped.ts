// Global setup: repeats at the end of the run which files were left out and why.
export default function announceSkipped() {
  return () => {
    const note = process.env.VJA_TESTS_LEFT_OUT;
    if (note) console.error(`\n${note}\n`);
  };
}
