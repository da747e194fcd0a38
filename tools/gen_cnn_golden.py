"""The issue's 'done' network end to end, in double: Conv2d - BatchNorm2d - ReLU - MaxPool2d -
Conv2d (stride 2, groups 2) - ReLU - Flatten - Linear - cross-entropy (label smoothing, an
ignored target), its loss and every parameter's and the input's gradient, then three SGD steps
(Nesterov momentum, weight decay) under StepLR, each step's loss and the final parameters.
Writes tests/golden/cnn_end_to_end.txt; tests/cnn_end_to_end_test.cpp reads it.

Run with Debian's python3-torch: /usr/bin/python3 tools/gen_cnn_golden.py
"""
import torch

from golden_io import GoldenWriter

torch.manual_seed(7)
model = torch.nn.Sequential(
    torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Conv2d(4, 6, (3, 2), stride=2, padding=(1, 0), groups=2), torch.nn.ReLU(), torch.nn.Flatten(),
    torch.nn.Linear(6 * 2 * 2, 5)).double()
x = torch.randn(6, 3, 8, 8, dtype=torch.double, requires_grad=True)
target = torch.tensor([0., 4, 2, 1, 3, 2], dtype=torch.double)
loss_fn = torch.nn.CrossEntropyLoss(ignore_index=1, label_smoothing=0.1)

w = GoldenWriter()
w.add("x", x)
w.add("target", target)
for name, t in model.state_dict().items():
    w.add("init." + name, t)
model.train()
loss = loss_fn(model(x), target.long())
loss.backward()
w.add("loss", loss)
w.add("grad.x", x.grad)
for name, p in model.named_parameters():
    w.add("grad." + name, p.grad)
for name, t in model.state_dict().items():
    w.add("after_forward." + name, t)  # the running statistics after one training forward

optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
optimizer.step()
schedule.step()
for step in range(1, 4):
    optimizer.zero_grad()
    loss = loss_fn(model(x.detach()), target.long())
    loss.backward()
    optimizer.step()
    schedule.step()
    w.add(f"step{step}.loss", loss)
for name, t in model.state_dict().items():
    w.add("final." + name, t)
w.write("cnn_end_to_end.txt")
