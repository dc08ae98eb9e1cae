// Copy buttons: <button data-copy="#id" hidden> copies the text of #id. They stay hidden
// without JavaScript or a clipboard (the text is there to select by hand), and say in the
// next role="status" element whether the copy worked.
for (const button of document.querySelectorAll("button[data-copy]")) {
  if (!navigator.clipboard) continue;
  const source = document.querySelector(button.dataset.copy);
  const status = button.parentElement.querySelector("[role=status]");
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(source.textContent.trim());
      status.textContent = "Copied.";
    } catch {
      status.textContent = "Could not copy: select the link and copy it by hand.";
    }
    status.hidden = false;
  });
}
